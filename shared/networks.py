"""IP network lists from settings (comma-separated), for allow-lists and trusted proxies."""

from __future__ import annotations

import ipaddress

__all__ = ["IPAddress", "IPNetwork", "parse_networks"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Comma-separated networks (``10.0.0.0/8``, ``192.168.1.20``, ``fd00::/8``); a
    ValueError naming the first item that is not one."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not a network (e.g. 192.168.0.0/16)") from None
    return tuple(networks)
