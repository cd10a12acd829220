"""Where gateway requests may go: the allow-list of networks (pure; the resolution that uses
it is in ``adapters.py``, where requests leave).

A user's ``host`` is chosen by whoever holds the API token, so the poller and
``GET /api/event`` only connect to addresses inside FORKLIFT_RAINFOREST_GATEWAY_NETWORKS
(default: the private LAN ranges). Loopback, link-local, "this host", multicast and the cloud
metadata addresses are refused even then, unless a configured network lies inside such a
range, i.e. names it explicitly (``127.0.0.1/32`` for a simulator on this machine;
``169.254.0.0/16`` still does not reach ``169.254.169.254``, only ``169.254.169.254/32`` does).
"""

from __future__ import annotations

import ipaddress

from services.rainforest.errors import HostNotAllowed
from services.rainforest.models import split_host
from shared.networks import IPAddress, IPNetwork

__all__ = ["DEFAULT_GATEWAY_NETWORKS", "address_allowed", "check_literal"]

DEFAULT_GATEWAY_NETWORKS = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
_SPECIAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this host": 0.0.0.0 connects to the local machine
        "127.0.0.0/8",
        "169.254.0.0/16",
        "169.254.169.254/32",  # AWS, GCP, Azure, OpenStack metadata
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "224.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "::1/128",
        "fe80::/10",
        "fd00:ec2::254/128",  # AWS metadata over IPv6 (inside the fc00::/7 default)
        "ff00::/8",
    )
)


def address_allowed(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    """Whether a request may connect to ``address``."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    containing = [n for n in networks if n.version == address.version and address in n]
    if not containing:
        return False
    special = [s for s in _SPECIAL if s.version == address.version and address in s]
    if not special:
        return True
    tightest = max(special, key=lambda s: s.prefixlen)
    return any(n.subnet_of(tightest) for n in containing)  # type: ignore[arg-type]


def check_literal(host: str, networks: tuple[IPNetwork, ...]) -> None:
    """HostNotAllowed when ``host`` (``host[:port]``) is an IP address that is not allowed;
    a name is checked when it is resolved, at each connection."""
    name, _ = split_host(host)
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return
    if not address_allowed(address, networks):
        raise HostNotAllowed(
            f"host {name} is outside FORKLIFT_RAINFOREST_GATEWAY_NETWORKS (or a loopback, "
            "link-local or metadata address no network names explicitly)"
        )
