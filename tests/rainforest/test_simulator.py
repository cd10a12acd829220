"""The EAGLE simulator speaks both protocols the way the real ones do: the relay's XML and
``<Error>`` reply, and the EAGLE-200 local API as aioeagle reads it."""

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
import pytest_asyncio
from aioeagle import EagleHub
from aioeagle.errors import BadAuth
from aiohttp.test_utils import TestServer

from services.rainforest.adapters import RELAY_COMMAND
from services.rainforest.readings import parse_relay_reply
from services.rainforest.simulator import DEVICES_KEY, RELAY_BAD_AUTH_XML, device_credentials


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as client:
        yield client


async def relay(
    session: aiohttp.ClientSession, server: TestServer, headers: dict
) -> tuple[int, str]:
    url = f"http://127.0.0.1:{server.port}/cgi-bin/post_manager"
    async with session.post(url, data=RELAY_COMMAND, headers=headers) as response:
        return response.status, await response.text()


def test_device_set_is_deterministic() -> None:
    assert device_credentials(42) == ("000042", "user000042@example.org", "sim-000042")


async def test_relay_reply_and_bad_credentials(simulator: TestServer, session) -> None:
    cloud_id, user, secret = device_credentials(12)
    status, body = await relay(
        session, simulator, {"Cloud-ID": cloud_id, "User": user, "Password": secret}
    )
    assert status == 200 and body.startswith("<InstantaneousDemand>")
    reading = parse_relay_reply(cloud_id, body, datetime.now(UTC))
    assert reading["meter_mac"] == "0x00135003007c000c"
    assert reading["device_mac"] == "0xd8d5b9000000000c"
    status, body = await relay(
        session, simulator, {"Cloud-ID": cloud_id, "User": user, "Password": "x"}
    )
    assert (status, body) == (200, RELAY_BAD_AUTH_XML)
    simulator.app[DEVICES_KEY][cloud_id].bad_auth = True
    status, body = await relay(
        session, simulator, {"Cloud-ID": cloud_id, "User": user, "Password": secret}
    )
    assert body == RELAY_BAD_AUTH_XML


async def test_error_rate_and_latency(simulator: TestServer, session) -> None:
    cloud_id, user, secret = device_credentials(13)
    device = simulator.app[DEVICES_KEY][cloud_id]
    device.error_rate = 1.0
    headers = {"Cloud-ID": cloud_id, "User": user, "Password": secret}
    assert (await relay(session, simulator, headers))[0] == 500
    device.error_rate, device.latency_s = 0.0, 0.3
    started = time.monotonic()
    assert (await relay(session, simulator, headers))[0] == 200
    assert time.monotonic() - started >= 0.3
    assert device.requests == 2


async def test_eagle200_local_api_through_aioeagle(simulator: TestServer, session) -> None:
    cloud_id, _, secret = device_credentials(14)
    hub = EagleHub(session, cloud_id, secret, host=f"127.0.0.1:{simulator.port}")
    [meter] = await hub.get_device_list()
    assert meter.hardware_address == "0x00135003007c000e" and meter.is_connected
    hub.next_request = 0.0
    values = await meter.get_device_query()
    assert set(values) == {
        "zigbee:InstantaneousDemand",
        "zigbee:CurrentSummationDelivered",
        "zigbee:CurrentSummationReceived",
    }
    assert values["zigbee:InstantaneousDemand"]["Units"] == "kW"
    float(values["zigbee:CurrentSummationDelivered"]["Value"])
    wrong = EagleHub(session, cloud_id, "bad", host=f"127.0.0.1:{simulator.port}")
    with pytest.raises(BadAuth):
        await wrong.get_device_list()
