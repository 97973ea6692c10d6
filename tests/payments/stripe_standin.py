"""A small stand-in for the parts of Stripe's HTTP API that localstripe does not serve:
`/v1/invoice_payments`, PaymentIntents with `expand[]=latest_charge`, charges with their balance
transaction, billing-portal sessions, and a payout's balance transactions
(`GET /v1/balance_transactions?payout=...`, sources expanded, paginated with `has_more` /
`starting_after`).

A real HTTP server on a loopback port that the app reaches through STRIPE_API_BASE with the real
stripe SDK, so what is tested is our adapter and everything behind it, not a mock of our code. It
answers in Stripe's shapes (tests/payments/stripe_shapes.py) from objects the test puts in it,
unknown objects with Stripe's error shape (404, invalid_request_error), and keeps every request
(method, path, query, Stripe-Version header) for the test to check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.netutil import serve_in_thread


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
    charges: dict[str, dict] = field(default_factory=dict)  # answered with a balance transaction built from `fees`
    fees: dict[str, int] = field(default_factory=dict)  # charge id -> fee cents
    # Any other object by id (`add`), and each payout's balance transactions in order (`add_payout`).
    objects: dict[str, dict] = field(default_factory=dict)
    payout_transactions: dict[str, list[str]] = field(default_factory=dict)
    page_size: int = 100
    requests: list[Seen] = field(default_factory=list)
    url: str = ""

    def start(self) -> StripeStandIn:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet test output
                pass

            def _route(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                if method == "POST":
                    length = int(self.headers.get("Content-Length") or 0)
                    query.update(parse_qs(self.rfile.read(length).decode()))
                standin.requests.append(Seen(method, parts.path, query, self.headers.get("Stripe-Version")))
                status, body = standin.answer(method, parts.path, query)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_standin")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = serve_in_thread(self._server)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def add(self, *objects: dict) -> None:
        for obj in objects:
            self.objects[obj["id"]] = obj

    def add_payout(self, payout: dict, transactions: list[dict]) -> None:
        """A payout and the balance transactions it paid out (its own one is added, as Stripe lists it)."""
        own = {
            "id": payout["balance_transaction"], "object": "balance_transaction", "amount": -payout["amount"],
            "available_on": payout["created"], "balance_type": "payments", "created": payout["created"],
            "currency": payout["currency"], "description": "STRIPE PAYOUT", "exchange_rate": None, "fee": 0,
            "fee_details": [], "net": -payout["amount"], "reporting_category": "payout", "source": payout["id"],
            "status": "available", "type": "payout",
        }
        self.add(payout, own, *transactions)
        self.payout_transactions[payout["id"]] = [own["id"]] + [t["id"] for t in transactions]

    def answer(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, dict]:
        one = {k: v[0] for k, v in query.items()}
        expand = {v for k, values in query.items() if k.startswith("expand") for v in values}
        parts = path.strip("/").split("/")
        if method == "POST":
            if path == "/v1/billing_portal/sessions":
                return 200, {"id": "bps_standin", "object": "billing_portal.session", "customer": one.get("customer"),
                             "return_url": one.get("return_url"),
                             "url": f"https://billing.stripe.com/p/session/{one.get('customer')}"}
            return _missing(path)
        if path == "/v1/invoice_payments":
            found = [
                p for p in self.invoice_payments
                if ("invoice" not in one or p["invoice"] == one["invoice"])
                and ("status" not in one or p["status"] == one["status"])
                and ("payment[payment_intent]" not in one or p["payment"].get("payment_intent") == one["payment[payment_intent]"])
            ]
            return 200, {"object": "list", "data": found, "has_more": False, "url": "/v1/invoice_payments"}
        if path == "/v1/balance_transactions":
            return self._payout_page(one, expand)
        if len(parts) == 3 and parts[1] == "payment_intents":
            intent = self.payment_intents.get(parts[2])
            return (200, intent) if intent else _missing(parts[2])
        if len(parts) == 3 and parts[1] == "charges" and parts[2] in self.charges:
            charge = self.charges[parts[2]]
            fee = self.fees.get(charge["id"], 0)
            txn = {"id": charge["balance_transaction"], "object": "balance_transaction", "amount": charge["amount"],
                   "fee": fee, "net": charge["amount"] - fee, "currency": charge["currency"], "type": "charge"}
            return 200, {**charge, "balance_transaction": txn}
        if len(parts) == 3 and parts[1] in ("charges", "balance_transactions"):
            obj = self.objects.get(parts[2])
            if obj is None:
                return _missing(parts[2])
            return 200, self._expanded(obj, "balance_transaction" if "balance_transaction" in expand else None)
        return _missing(path)

    def _payout_page(self, one: dict[str, str], expand: set[str]) -> tuple[int, dict]:
        payout = one.get("payout", "")
        if payout not in self.payout_transactions:
            return _missing(payout)
        ids = self.payout_transactions[payout]
        after = one.get("starting_after")
        start = ids.index(after) + 1 if after in ids else 0
        limit = min(int(one.get("limit", "10")), self.page_size)
        page = [self._expanded(self.objects[i], "source" if "data.source" in expand else None)
                for i in ids[start:start + limit]]
        return 200, {"object": "list", "data": page, "has_more": start + limit < len(ids), "url": "/v1/balance_transactions"}

    def _expanded(self, obj: dict, name: str | None) -> dict:
        if name and isinstance(obj.get(name), str) and obj[name] in self.objects:
            return {**obj, name: self.objects[obj[name]]}
        return obj


def _missing(what: str) -> tuple[int, dict]:
    return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing", "message": f"No such object: '{what}'"}}
