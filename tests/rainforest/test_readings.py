"""Pure logic of rainforest: the old acceptance cases, reply parsing, names, backoff."""

import json
import math
import random
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from services.rainforest import readings as readings_module
from services.rainforest.errors import BadCredentials, BadReply
from services.rainforest.poller import backoff_s
from services.rainforest.readings import (
    _CANONICAL_RE,
    _DEMAND_FIELDS,
    EAGLE_EPOCH_OFFSET_S,
    demand_kw,
    get_wait_time,
    hour_changed,
    iso_at,
    log_file_name,
    parse_relay_reply,
    reading_from_eagle200,
    reading_line,
    s3_key,
)
from services.rainforest.schedule import start_offset_s
from services.rainforest.simulator import RELAY_BAD_AUTH_XML

RECEIVED = datetime(2026, 11, 23, 8, 0, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("last", "now", "wait"),
    [(100, 200, 0), (100, 101, 5), (100, 110, 0), (200, 100, 106), (100, 100, 6), (None, 5, 0)],
)
def test_get_wait_time(last: float | None, now: float, wait: float) -> None:
    assert get_wait_time(last, now) == wait


def _t(hh: int, mm: int) -> datetime:
    return datetime(2015, 1, 2, hh, mm, tzinfo=UTC)


@pytest.mark.parametrize(
    ("previous", "current", "changed"),
    [
        (_t(0, 59), _t(1, 0), True),
        (_t(0, 0), _t(0, 59), False),
        (_t(1, 0), _t(0, 59), True),
        (None, _t(0, 59), False),
    ],
)
def test_hour_changed(previous: datetime | None, current: datetime, changed: bool) -> None:
    assert hour_changed(previous, current) is changed


def test_file_and_key_names() -> None:
    ts = datetime(2015, 1, 2, 3, 4, tzinfo=UTC)
    assert log_file_name("99999", ts) == "2015-01-02-03/iseif-rainforest-99999-2015-01-02-03.jl"
    assert (
        s3_key("99999", ts)
        == "rainforest-logs/99999/2015/01/02/iseif-rainforest-99999-2015-01-02-03.jl.gz"
    )


@pytest.mark.parametrize(
    ("demand", "multiplier", "divisor", "kw"),
    [
        (0x001738, 1, 1000, 5.944),
        (0x001738, 0, 0, 5944.0),
        (0xFFFFFC18, 1, 1000, -1.0),  # signed 32-bit: export
        (0x10, 2, 4, 8.0),
    ],
)
def test_demand_kw(demand: int, multiplier: int, divisor: int, kw: float) -> None:
    assert demand_kw(demand, multiplier, divisor) == pytest.approx(kw)


RELAY_XML = """<InstantaneousDemand>
  <DeviceMacId>0xd8d5b90000001234</DeviceMacId>
  <MeterMacId>0x00135003007c5678</MeterMacId>
  <TimeStamp>0x1c531d48</TimeStamp>
  <Demand>0x001738</Demand>
  <Multiplier>0x00000001</Multiplier>
  <Divisor>0x000003e8</Divisor>
  <DigitsRight>0x03</DigitsRight>
  <DigitsLeft>0x0f</DigitsLeft>
  <SuppressLeadingZero>Y</SuppressLeadingZero>
</InstantaneousDemand>"""


def test_parse_relay_reply() -> None:
    reading = parse_relay_reply("002738", RELAY_XML, RECEIVED)
    assert reading == {
        "cloud_id": "002738",
        "meter_mac": "0x00135003007c5678",
        "device_mac": "0xd8d5b90000001234",
        "eagle_time": "2015-01-22T02:30:32+00:00",
        "received_at": "2026-11-23T08:00:05+00:00",
        "demand_kw": 5.944,
        "summation_delivered_kwh": None,
        "summation_received_kwh": None,
        "source": "cloud",
    }


def _relay_variant(rng: random.Random) -> tuple[str, bool]:
    """A relay reply as some relay might write it, and whether it is in the usual form."""
    space = lambda: rng.choice(["", " ", "\n  ", "\r\n\t"])  # noqa: E731
    fields = [
        (name, rng.getrandbits(64 if name.endswith("MacId") else rng.choice([8, 32])))
        for name in _DEMAND_FIELDS
    ]
    usual = rng.random() < 0.5
    while not usual and [name for name, _ in fields] == list(_DEMAND_FIELDS):
        rng.shuffle(fields)  # out of the usual order, so never in the usual form
    texts = []
    for name, value in fields:
        digits = f"{value:x}"
        digits = digits.upper() if rng.random() < 0.3 else digits
        prefix = "0x" if usual or rng.random() < 0.7 else rng.choice(["0X", ""])
        texts.append(f"<{name}>{space()}{prefix}{digits}{space()}</{name}>")
    if usual or rng.random() < 0.5:  # the other leaf fields a relay sends, after
        texts += ["<DigitsRight>0x03</DigitsRight>", "<SuppressLeadingZero>Y</SuppressLeadingZero>"]
    if not usual and rng.random() < 0.3:
        texts.insert(rng.randrange(len(texts)), "<DemandHint>0x01</DemandHint>")
    head = "" if usual else rng.choice(["", '<?xml version="1.0"?>\n', "<!-- relay -->"])
    inner = "".join(space() + text for text in texts)
    return f"{head}<InstantaneousDemand>{inner}{space()}</InstantaneousDemand>{space()}", usual


def test_parse_relay_reply_reads_what_an_xml_parser_reads() -> None:
    """Both ways of reading a reply (one expression for the usual form, leaf fields for
    any other) give what a DOM reads from the same document."""
    rng, usual_seen = random.Random(17), 0
    for _ in range(400):
        body, usual = _relay_variant(rng)
        assert bool(_CANONICAL_RE.fullmatch(body)) == usual, body
        usual_seen += usual
        dom = {
            child.tag: int(child.text.strip(), 16)
            for child in ET.fromstring(body)
            if child.tag in _DEMAND_FIELDS
        }
        reading = parse_relay_reply("000042", body, RECEIVED)
        assert reading["meter_mac"] == f"0x{dom['MeterMacId']:016x}"
        assert reading["device_mac"] == f"0x{dom['DeviceMacId']:016x}"
        assert reading["eagle_time"] == iso_at(dom["TimeStamp"] + EAGLE_EPOCH_OFFSET_S)
        assert reading["demand_kw"] == demand_kw(dom["Demand"], dom["Multiplier"], dom["Divisor"])
    assert 150 < usual_seen < 250


def test_reading_line_is_json_dumps_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """The template's line is json.dumps's, for relay readings of every demand and
    clock; any other shape or type of value falls back to json.dumps."""
    rng, template_only = random.Random(5), []
    for _ in range(300):
        demand, multiplier, divisor = rng.getrandbits(32), rng.randint(0, 9), rng.randint(0, 5000)
        body = (
            RELAY_XML.replace("0x001738", f"0x{demand:x}")
            .replace("<Divisor>0x000003e8", f"<Divisor>0x{divisor:x}")
            .replace("<Multiplier>0x00000001", f"<Multiplier>0x{multiplier:x}")
        )
        cloud_id = f"{rng.getrandbits(rng.randint(4, 64)):x}"
        reading = parse_relay_reply(cloud_id, body, RECEIVED)
        assert reading_line(reading) == json.dumps(reading)
        template_only.append(reading)
    expected = [json.dumps(r) for r in template_only]
    with monkeypatch.context() as patch:  # a relay reading never falls back to json.dumps
        patch.setattr(readings_module, "json", None)
        assert [reading_line(r) for r in template_only] == expected
    usual = parse_relay_reply("00ab", RELAY_XML, RECEIVED)
    odd = [
        {**usual, "cloud_id": 'a"\\b\u00e9\n'},  # quoting as json.dumps quotes
        {**usual, "demand_kw": 3},
        {**usual, "demand_kw": math.inf},
        {**usual, "demand_kw": math.nan},
        {**usual, "device_mac": None},
        {**usual, "summation_delivered_kwh": 1.5},
        {**usual, "extra": 1},
        {k: usual[k] for k in reversed(usual)},
        reading_from_eagle200(
            "1",
            {"HardwareAddress": "0x1", "LastContact": "0x611d885a"},
            {"zigbee:InstantaneousDemand": {"Value": "-0.25"}},
            RECEIVED,
        ),
    ]
    for reading in odd:
        assert reading_line(reading) == json.dumps(reading)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (RELAY_BAD_AUTH_XML, BadCredentials),
        ("<Error><Text>server busy</Text></Error>", BadReply),
        ("<html>oops", BadReply),
        ("<Other/>", BadReply),
        (RELAY_XML.replace("0x001738", "zz"), BadReply),
        (RELAY_XML.replace("<Demand>0x001738</Demand>", ""), BadReply),
    ],
)
def test_parse_relay_reply_errors(body: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_relay_reply("1", body, RECEIVED)


def test_reading_from_eagle200() -> None:
    details = {"HardwareAddress": "0x00135003007c0001", "LastContact": "0x611d885a"}
    variables = {
        "zigbee:InstantaneousDemand": {"Value": "-0.250000"},
        "zigbee:CurrentSummationDelivered": {"Value": "10001.5"},
    }
    reading = reading_from_eagle200("000001", details, variables, RECEIVED)
    assert reading["demand_kw"] == -0.25 and reading["summation_delivered_kwh"] == 10001.5
    assert reading["summation_received_kwh"] is None
    assert reading["eagle_time"] == "2021-08-18T22:23:22+00:00"
    assert reading["meter_mac"] == "0x00135003007c0001" and reading["source"] == "eagle200"
    with pytest.raises(BadReply, match="InstantaneousDemand"):
        reading_from_eagle200("000001", details, {}, RECEIVED)


@pytest.mark.parametrize(("failures", "wait"), [(1, 6), (2, 12), (3, 24), (10, 300)])
def test_backoff_is_exponential_and_capped(failures: int, wait: float) -> None:
    assert backoff_s(failures, 6, 300) == wait


def test_start_offsets_are_stable_and_spread() -> None:
    offsets = [start_offset_s(f"{i:06d}", 6.0) for i in range(600)]
    assert offsets == [start_offset_s(f"{i:06d}", 6.0) for i in range(600)]
    assert all(0 <= o < 6 for o in offsets)
    assert sum(1 for o in offsets if o < 3) in range(240, 360)
