"""Real network peers for tests: free loopback ports and an SMTP server (aiosmtpd) that keeps what it gets."""

from __future__ import annotations

import socket
import threading
import time
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller


def serve_in_thread(server) -> threading.Thread:
    """Run a socketserver-style server in a daemon thread, checking for shutdown every 50 ms:
    the default half second made each test with a server wait about 0.3 s on its way out."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """aiosmtpd handler: every message delivered, parsed."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


class PickyServer(Inbox):
    """Delivers like Inbox, but refuses some recipients at RCPT and some content at DATA."""

    def __init__(self, refuse: dict[str, str], refuse_subject: dict[str, str] | None = None):
        super().__init__()
        self.refuse = refuse
        self.refuse_subject = refuse_subject or {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for marker, answer in self.refuse_subject.items():
            if marker.encode() in envelope.content:
                return answer
        return await super().handle_DATA(server, session, envelope)


def start_smtp(port: int) -> tuple[Controller, Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, inbox


def wait_for(predicate, timeout: float, what: str):
    """Poll until `predicate()` is truthy (and return it); fail the test after `timeout` seconds."""
    import pytest

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")
