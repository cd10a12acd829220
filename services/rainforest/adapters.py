"""Gateway clients: one fetch per adapter, each bounded by a timeout, every failure wrapped in a
GatewayError subclass (BadCredentials, BadReply). Connections are kept alive and reused by the
caller's session."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import aiohttp
from aioeagle import EagleHub
from aioeagle.electric_meter import ElectricMeter
from aioeagle.errors import BadAuth
from yarl import URL

from services.rainforest.errors import BadCredentials, BadReply, GatewayError
from services.rainforest.readings import parse_relay_reply, reading_from_eagle200

__all__ = ["Gateway", "fetch_reading", "RELAY_COMMAND"]

RELAY_COMMAND = "<Command><Name>get_instantaneous_demand</Name></Command>"
_RELAY_BODY = RELAY_COMMAND.encode()


@lru_cache(maxsize=16)
def _relay_endpoint(relay_url: str) -> URL:
    """The relay's post_manager URL, parsed once rather than on every poll."""
    return URL(f"{relay_url.rstrip('/')}/cgi-bin/post_manager")


@lru_cache(maxsize=16)
def _request_timeout(timeout_s: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=timeout_s)


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


async def _fetch_relay(
    session: aiohttp.ClientSession, relay_url: str, gw: Gateway, timeout_s: float
) -> dict[str, Any]:
    headers = {"Cloud-ID": gw.cloud_id, "User": gw.user, "Password": gw.secret}
    async with session.post(
        _relay_endpoint(relay_url),
        data=_RELAY_BODY,
        headers=headers,
        timeout=_request_timeout(timeout_s),  # the whole request, body included
    ) as response:
        if response.status in (401, 403):
            raise BadCredentials(f"relay answered HTTP {response.status}")
        if response.status != 200:
            raise GatewayError(f"relay answered HTTP {response.status}")
        # decoded here: aiohttp's text() would guess the charset when the reply names none
        body = (await response.read()).decode("utf-8", "replace")
    return parse_relay_reply(gw.cloud_id, body, datetime.now(UTC))


async def _fetch_eagle200(session: aiohttp.ClientSession, gw: Gateway) -> dict[str, Any]:
    if gw._hub is None:
        gw._hub = EagleHub(session, gw.cloud_id, gw.secret, host=gw.host)
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
    session: aiohttp.ClientSession, relay_url: str, gw: Gateway, timeout_s: float
) -> dict[str, Any]:
    """One normalized reading from ``gw``, within ``timeout_s``."""
    try:
        if gw.adapter == "eagle200":
            async with asyncio.timeout(timeout_s):  # aioeagle sets no timeout of its own
                return await _fetch_eagle200(session, gw)
        return await _fetch_relay(session, relay_url, gw, timeout_s)
    except BadAuth:
        raise BadCredentials("gateway answered HTTP 401") from None
    except TimeoutError:
        raise GatewayError(f"no answer within {timeout_s} s") from None
    except aiohttp.ClientError as e:
        raise GatewayError(f"{type(e).__name__}: {e}") from None
    except (KeyError, TypeError, ValueError) as e:  # aioeagle/xmltodict on garbage replies
        raise BadReply(f"unreadable reply: {type(e).__name__}: {e}") from None
