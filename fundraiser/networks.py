"""The network a request comes from, as the limits on sign-ins, donations and live streams count it.

An IPv4 address is one subscriber (or one NAT) and is counted as it is. An IPv6 subscriber gets a
whole /64, and often more: a guesser could give every request a fresh address out of 2^64, so a limit
counted per IPv6 address limits nothing. IPv6 is counted by its /64, the unit a provider hands out.
"""

from __future__ import annotations

import ipaddress


def network_of(address: str) -> str:
    """What limits count a request by: 203.0.113.7 as it is, 2001:db8:1:2:a:b:c:d as
    2001:db8:1:2::/64, an IPv4 address written as IPv6 (::ffff:203.0.113.7) as that IPv4 address;
    anything unreadable ("unknown", a Unix socket's peer) unchanged, counted as one address."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])  # drop a link-local zone ("fe80::1%eth0")
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)
