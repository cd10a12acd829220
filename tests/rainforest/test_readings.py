"""Pure logic of rainforest: the old acceptance cases, reply parsing, names, backoff."""

from datetime import UTC, datetime

import pytest

from services.rainforest.errors import BadCredentials, BadReply
from services.rainforest.poller import backoff_s
from services.rainforest.readings import (
    demand_kw,
    get_wait_time,
    hour_changed,
    log_file_name,
    parse_relay_reply,
    reading_from_eagle200,
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
