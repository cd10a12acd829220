"""Gateway clients: one fetch per adapter, each bounded by a timeout, every failure wrapped in a
GatewayError subclass (BadCredentials, BadReply).

This is where requests leave: an EAGLE-200 ``host`` (chosen by the API's caller) is resolved
here, every address it resolves to is checked against the allow-list
(:func:`services.rainforest.hosts.address_allowed`), and the hub connects to the checked
address itself, so a name cannot resolve to another address between check and connect, and
never follows a redirect.
Whatever goes wrong on the way to a gateway (refused, timed out, not allowed, not HTTP, not
XML) answers one text, :data:`GATEWAY_UNREACHABLE`: the API tells its caller nothing about
what else listens at an address. Connections are kept alive and reused by the caller's
session (EAGLE-200s) or relay client (``relay.RelayClient``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from datetime import UTC, datetime
from typing import Any
from xml.parsers.expat import ExpatError

import aiohttp
from aioeagle import EagleHub
from aioeagle.electric_meter import ElectricMeter
from aioeagle.errors import BadAuth

from services.rainforest.errors import BadCredentials, BadReply, GatewayError, HostNotAllowed
from services.rainforest.hosts import address_allowed
from services.rainforest.models import split_host
from services.rainforest.readings import parse_relay_reply, reading_from_eagle200
from services.rainforest.relay import RelayClient
from shared.logging import get_logger
from shared.networks import IPAddress, IPNetwork

__all__ = [
    "Gateway",
    "fetch_reading",
    "relay_client",
    "resolve_gateway",
    "RELAY_COMMAND",
    "GATEWAY_UNREACHABLE",
]

log = get_logger("forklift.rainforest.adapters")
RELAY_COMMAND = "<Command><Name>get_instantaneous_demand</Name></Command>"
_RELAY_BODY = RELAY_COMMAND.encode()


def relay_client(relay_url: str, limit: int) -> RelayClient:
    """The client for the relay's post_manager at ``relay_url`` (``RELAY_URL``)."""
    return RelayClient(f"{relay_url.rstrip('/')}/cgi-bin/post_manager", limit)


GATEWAY_UNREACHABLE = (
    "no EAGLE gateway answered at this host (unreachable, not an EAGLE, or outside "
    "FORKLIFT_RAINFOREST_GATEWAY_NETWORKS)"
)
RELAY_UNREACHABLE = "the Rainforest relay did not answer"
# What aiohttp, aioeagle and xmltodict raise on a connection or reply that is not an EAGLE's.
_CONNECTION_FAILURES = (
    TimeoutError,
    OSError,
    aiohttp.ClientError,
    HostNotAllowed,
    ExpatError,
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    IndexError,
    LookupError,
)


class Gateway:
    """How to reach one user's gateway (built from the user record and its decrypted secret).
    Keeps the EAGLE-200 hub and meter between polls (aioeagle spaces requests by 1 s)."""

    def __init__(self, cloud_id: str, adapter: str, user: str, secret: str, host: str) -> None:
        self.cloud_id = cloud_id
        self.adapter = adapter
        self.user = user
        self.secret = secret
        self.host = host
        self._hub: EagleHub | None = None
        self._meter: ElectricMeter | None = None
        self._relay_request: tuple[RelayClient, bytes] | None = None  # built once per relay

    def forget_connection(self) -> None:
        """After a failure: resolve and list devices again on the next poll."""
        self._hub = None
        self._meter = None


class _NoRedirects:
    """The one thing EagleHub asks of its session, ``post``, with redirects refused: a
    gateway must not send the poller on to an address the allow-list never saw."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    def post(self, url: str, **kwargs: Any) -> Any:
        return self._session.post(url, allow_redirects=False, **kwargs)


async def resolve_gateway(host: str, networks: tuple[IPNetwork, ...]) -> str:
    """The ``address[:port]`` to connect to for ``host``: an IP literal as is, a name
    resolved; HostNotAllowed unless every address is allowed."""
    name, port = split_host(host)
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(name)]
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(
            name, port or 80, type=socket.SOCK_STREAM
        )
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses or not all(address_allowed(a, networks) for a in addresses):
        raise HostNotAllowed(f"{host} is outside FORKLIFT_RAINFOREST_GATEWAY_NETWORKS")
    address = addresses[0]
    text = f"[{address}]" if address.version == 6 else str(address)
    return f"{text}:{port}" if port else text


def _relay_request(relay: RelayClient, gw: Gateway) -> bytes:
    """The bytes of ``gw``'s relay request, built once per relay client."""
    if gw._relay_request is None or gw._relay_request[0] is not relay:
        headers = {"Cloud-ID": gw.cloud_id, "User": gw.user, "Password": gw.secret}
        gw._relay_request = (relay, relay.request(headers, _RELAY_BODY))
    return gw._relay_request[1]


def _relay_reading(gw: Gateway, status: int, body: bytes) -> dict[str, Any]:
    if status in (401, 403):
        raise BadCredentials(f"relay answered HTTP {status}")
    if status != 200:
        raise GatewayError(f"relay answered HTTP {status}")
    return parse_relay_reply(gw.cloud_id, body.decode("utf-8", "replace"), datetime.now(UTC))


async def _fetch_eagle200(
    session: aiohttp.ClientSession, gw: Gateway, networks: tuple[IPNetwork, ...]
) -> dict[str, Any]:
    if gw._hub is None:
        address = await resolve_gateway(gw.host, networks)
        gw._hub = EagleHub(_NoRedirects(session), gw.cloud_id, gw.secret, host=address)  # type: ignore[arg-type]
    if gw._meter is None:
        meters = await gw._hub.get_device_list()
        if not meters:
            raise BadReply("gateway lists no electric meter")
        gw._meter = meters[0]
        # aioeagle waits 1 s between a hub's requests; our poller paces requests itself
        gw._hub.next_request = 0.0
    variables = await gw._meter.get_device_query()
    return reading_from_eagle200(gw.cloud_id, gw._meter.details, variables, datetime.now(UTC))


async def fetch_reading(
    session: aiohttp.ClientSession,
    relay: RelayClient,
    gw: Gateway,
    timeout_s: float,
    networks: tuple[IPNetwork, ...],
) -> dict[str, Any]:
    """One normalized reading from ``gw``, within ``timeout_s``; an EAGLE-200 only at an
    address inside ``networks``."""
    try:
        if gw.adapter == "eagle200":
            async with asyncio.timeout(timeout_s):  # aioeagle sets no timeout of its own
                return await _fetch_eagle200(session, gw, networks)
        # not a coroutine of its own: a frame less to resume on every reply
        status, body = await relay.post(_relay_request(relay, gw), timeout_s)
        return _relay_reading(gw, status, body)
    except BadAuth:
        raise BadCredentials("gateway answered HTTP 401") from None
    except GatewayError:
        raise
    except _CONNECTION_FAILURES as e:
        gw.forget_connection()
        # the cause stays in the operator's log; the caller sees one text for all of them
        log.debug(
            "rainforest.fetch.failed",
            cloud_id=gw.cloud_id,
            error=f"{type(e).__name__}: {e}"[:300],
        )
        unreachable = GATEWAY_UNREACHABLE if gw.adapter == "eagle200" else RELAY_UNREACHABLE
        raise GatewayError(unreachable) from None
