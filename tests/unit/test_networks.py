"""Limits count an IPv6 client by its /64: every subscriber has 2^64 addresses to rotate through."""

from __future__ import annotations

import pytest

from fundraiser.live import StreamGate
from fundraiser.networks import network_of


@pytest.mark.parametrize(("address", "network"), [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:a:b:c:d", "2001:db8:1:2::/64"),
    ("2001:DB8:1:2::FFFF", "2001:db8:1:2::/64"),  # written differently, the same network
    ("2001:db8::5", "2001:db8::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),  # IPv4 by way of a dual-stack socket
    ("fe80::1%eth0", "fe80::/64"),
    ("unknown", "unknown"),
    ("?", "?"),
])
def test_network_of(address, network):
    assert network_of(address) == network


def test_live_streams_are_capped_per_ipv6_network_not_per_address():
    gate = StreamGate()
    assert [gate.admit(f"2001:db8:1:2::{n}", most=100, per_address=3) for n in range(1, 6)] == [True] * 3 + [False] * 2
    assert gate.admit("2001:db8:1:3::1", most=100, per_address=3)  # the neighbouring /64 is someone else
    gate.release("2001:db8:1:2::2")  # a stream of that network ended, from any of its addresses
    assert gate.admit("2001:db8:1:2::99", most=100, per_address=3)
