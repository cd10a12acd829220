"""EAGLE simulator: the legacy Rainforest cloud relay and the EAGLE-200 local API, for thousands
of simulated devices in one aiohttp app (dev, tests, demo, benchmarks).

Deterministic device set from ``--devices N``: device ``i`` (0 <= i < N) has cloud id
``f"{i:06d}"``, user (email) ``f"user{cloud_id}@example.org"`` and secret ``f"sim-{cloud_id}"``,
used as the relay ``Password`` and as the EAGLE-200 install code (Basic auth
``cloud_id:secret``). Both protocols share ``POST /cgi-bin/post_manager``: a request with an
``Authorization: Basic`` header is the local API, one with ``Cloud-ID``/``User``/``Password``
headers is the relay. Per device: ``latency_s``, ``error_rate`` (HTTP 500), ``hung`` (never
answers), ``bad_auth`` (rejects every request as bad credentials). Every request a device gets is
counted and timed (``requests``, ``request_times``: the last 2,000 Unix times), and
``GET /simulator/requests`` returns those times per cloud id, so a test or benchmark can see
from the gateways' side how often, and how regularly, each one was polled.

    python -m services.rainforest.simulator --host 127.0.0.1 --port 8090 --devices 50
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import math
import random
import time
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web

from services.rainforest.readings import EAGLE_EPOCH_OFFSET_S

__all__ = ["Device", "create_app", "device_credentials", "DEVICES_KEY"]

DEVICES_KEY = web.AppKey("devices", dict)
RNG_KEY = web.AppKey("rng", random.Random)
RELAY_BAD_AUTH_XML = "<Error>\n  <Text>Invalid user/password</Text>\n</Error>\n"


def device_credentials(index: int) -> tuple[str, str, str]:
    """(cloud_id, user email, secret) of simulated device ``index``."""
    cloud_id = f"{index:06d}"
    return cloud_id, f"user{cloud_id}@example.org", f"sim-{cloud_id}"


@dataclass
class Device:
    """One simulated gateway and its meter; mutate the modes at run time in tests."""

    index: int
    cloud_id: str
    user: str
    secret: str
    latency_s: float = 0.0
    error_rate: float = 0.0
    hung: bool = False
    bad_auth: bool = False
    requests: int = 0
    request_times: deque[float] = field(default_factory=lambda: deque(maxlen=2000))

    def seen(self) -> None:
        """Count and time one request."""
        self.requests += 1
        self.request_times.append(time.time())

    @property
    def meter_mac(self) -> int:
        return 0x00135003007C0000 + self.index

    @property
    def device_mac(self) -> int:
        return 0xD8D5B90000000000 + self.index

    def demand_w(self, now_s: float) -> int:
        """Watts, a daily-ish wave with a per-device phase; some devices export (negative)."""
        base = 1500 * math.sin(now_s / 600 + self.index) + 400
        return int(base if self.index % 7 else -abs(base))


def _relay_xml(device: Device, now_s: int) -> str:
    demand = device.demand_w(now_s) & 0xFFFFFFFF
    return (
        "<InstantaneousDemand>\n"
        f"  <DeviceMacId>0x{device.device_mac:016x}</DeviceMacId>\n"
        f"  <MeterMacId>0x{device.meter_mac:016x}</MeterMacId>\n"
        f"  <TimeStamp>0x{now_s - EAGLE_EPOCH_OFFSET_S:08x}</TimeStamp>\n"
        f"  <Demand>0x{demand:06x}</Demand>\n"
        "  <Multiplier>0x00000001</Multiplier>\n"
        "  <Divisor>0x000003e8</Divisor>\n"
        "  <DigitsRight>0x03</DigitsRight>\n"
        "  <DigitsLeft>0x0f</DigitsLeft>\n"
        "  <SuppressLeadingZero>Y</SuppressLeadingZero>\n"
        "</InstantaneousDemand>\n"
    )


def _device_fields(device: Device, now_s: int) -> str:
    return (
        f"<HardwareAddress>0x{device.meter_mac:016x}</HardwareAddress>"
        "<Manufacturer>Generic</Manufacturer><ModelId>electric_meter</ModelId>"
        "<Protocol>Zigbee</Protocol>"
        f"<LastContact>0x{now_s:08x}</LastContact>"
        "<ConnectionStatus>Connected</ConnectionStatus><NetworkAddress>0x0000</NetworkAddress>"
    )


def _device_list_xml(device: Device, now_s: int) -> str:
    return f"<DeviceList><Device>{_device_fields(device, now_s)}</Device></DeviceList>"


def _variable(name: str, value: float, units: str) -> str:
    return (
        f"<Variable><Name>{name}</Name><Value>{value:.6f}</Value><Units>{units}</Units></Variable>"
    )


def _device_query_xml(device: Device, now_s: int) -> str:
    delivered = 10_000 + device.index + now_s / 3600 * 0.8
    received = 100 + device.index / 10
    variables = "".join(
        [
            _variable("zigbee:InstantaneousDemand", device.demand_w(now_s) / 1000, "kW"),
            _variable("zigbee:CurrentSummationDelivered", delivered, "kWh"),
            _variable("zigbee:CurrentSummationReceived", received, "kWh"),
        ]
    )
    return (
        f"<Device><DeviceDetails><Name>Power Meter</Name>{_device_fields(device, now_s)}"
        "</DeviceDetails><Components><Component><HardwareId>0x0</HardwareId>"
        "<FixedId>0</FixedId><Name>Main</Name>"
        f"<Variables>{variables}</Variables></Component></Components></Device>"
    )


def _basic_auth(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password


async def _behave(device: Device, rng: random.Random) -> web.Response | None:
    """Apply the device's latency/hung/error modes; a response short-circuits the request."""
    if device.hung:
        await asyncio.sleep(3600)
    if device.latency_s:
        await asyncio.sleep(device.latency_s)
    if device.error_rate and rng.random() < device.error_rate:
        return web.Response(status=500, text="simulated gateway error")
    return None


async def _local_api(request: web.Request, auth: tuple[str, str], body: str) -> web.Response:
    device = request.app[DEVICES_KEY].get(auth[0])
    if device is not None:
        device.seen()
    if device is None or device.bad_auth or auth[1] != device.secret:
        return web.Response(status=401, text="Unauthorized")
    failure = await _behave(device, request.app[RNG_KEY])
    if failure is not None:
        return failure
    try:
        name = ET.fromstring(body).findtext("Name")
    except ET.ParseError:
        return web.Response(status=400, text="bad command")
    now_s = int(time.time())
    if name == "device_list":
        return web.Response(text=_device_list_xml(device, now_s), content_type="text/xml")
    if name == "device_query":
        return web.Response(text=_device_query_xml(device, now_s), content_type="text/xml")
    return web.Response(status=400, text=f"unknown command {name}")


async def _relay(request: web.Request) -> web.Response:
    device = request.app[DEVICES_KEY].get(request.headers.get("Cloud-ID", ""))
    if device is not None:
        device.seen()
    if (
        device is None
        or device.bad_auth
        or request.headers.get("User") != device.user
        or request.headers.get("Password") != device.secret
    ):
        return web.Response(text=RELAY_BAD_AUTH_XML, content_type="text/xml")
    failure = await _behave(device, request.app[RNG_KEY])
    if failure is not None:
        return failure
    return web.Response(text=_relay_xml(device, int(time.time())), content_type="text/xml")


async def post_manager(request: web.Request) -> web.Response:
    """``POST /cgi-bin/post_manager`` for both protocols."""
    body = await request.text()
    auth = _basic_auth(request.headers.get("Authorization", ""))
    if auth is not None:
        return await _local_api(request, auth, body)
    return await _relay(request)


async def request_log(request: web.Request) -> web.Response:
    """``GET /simulator/requests``: {cloud_id: [Unix time of each request]} of every device
    that was asked anything."""
    return web.json_response(
        {c: list(d.request_times) for c, d in request.app[DEVICES_KEY].items() if d.requests}
    )


def create_app(devices: int, *, seed: int = 0) -> web.Application:
    """The simulator app with ``devices`` deterministic devices (see the module docstring)."""
    app = web.Application()
    app[DEVICES_KEY] = {
        cloud_id: Device(i, cloud_id, user, secret)
        for i in range(devices)
        for cloud_id, user, secret in [device_credentials(i)]
    }
    app[RNG_KEY] = random.Random(seed)
    app.router.add_post("/cgi-bin/post_manager", post_manager)
    app.router.add_get("/simulator/requests", request_log)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--devices", type=int, default=50)
    args = parser.parse_args()
    web.run_app(create_app(args.devices), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
