"""A tiny stand-in for the parts of Stripe's HTTP API that localstripe does not serve
(`/v1/invoice_payments`, PaymentIntents with `expand[]=latest_charge`, billing-portal sessions).

A real HTTP server on a loopback port that the app reaches through STRIPE_API_BASE with the real
stripe SDK, answering in Stripe's shapes (tests/payments/stripe_shapes.py) from objects the test
puts in it. It keeps every request (path, query, Stripe-Version header) for the test to check.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    stripe_version: str | None


@dataclass
class StripeStandIn:
    invoice_payments: list[dict] = field(default_factory=list)
    payment_intents: dict[str, dict] = field(default_factory=dict)  # with latest_charge expanded
    charges: dict[str, dict] = field(default_factory=dict)
    fees: dict[str, int] = field(default_factory=dict)  # charge id -> fee cents
    requests: list[Seen] = field(default_factory=list)
    url: str = ""

    def start(self) -> StripeStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet test output
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                if method == "POST":
                    length = int(self.headers.get("Content-Length") or 0)
                    query.update(parse_qs(self.rfile.read(length).decode()))
                standin.requests.append(Seen(method, parts.path, query, self.headers.get("Stripe-Version")))
                status, body = standin.answer(method, parts.path, query)
                self._answer(status, body)

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def answer(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, dict]:
        one = {k: v[0] for k, v in query.items()}
        if method == "GET" and path == "/v1/invoice_payments":
            found = [
                p for p in self.invoice_payments
                if ("invoice" not in one or p["invoice"] == one["invoice"])
                and ("status" not in one or p["status"] == one["status"])
                and ("payment[payment_intent]" not in one or p["payment"].get("payment_intent") == one["payment[payment_intent]"])
            ]
            return 200, {"object": "list", "data": found, "has_more": False, "url": "/v1/invoice_payments"}
        if method == "GET" and path.startswith("/v1/payment_intents/"):
            intent = self.payment_intents.get(path.rsplit("/", 1)[1])
            return (200, intent) if intent else _missing("payment_intent")
        if method == "GET" and path.startswith("/v1/charges/"):
            charge = self.charges.get(path.rsplit("/", 1)[1])
            if charge is None:
                return _missing("charge")
            fee = self.fees.get(charge["id"], 0)
            txn = {"id": charge["balance_transaction"], "object": "balance_transaction", "amount": charge["amount"],
                   "fee": fee, "net": charge["amount"] - fee, "currency": charge["currency"], "type": "charge"}
            return 200, {**charge, "balance_transaction": txn}
        if method == "POST" and path == "/v1/billing_portal/sessions":
            return 200, {"id": "bps_standin", "object": "billing_portal.session", "customer": one.get("customer"),
                         "return_url": one.get("return_url"), "url": f"https://billing.stripe.com/p/session/{one.get('customer')}"}
        return _missing(path)


def _missing(what: str) -> tuple[int, dict]:
    return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing", "message": f"No such {what}"}}
