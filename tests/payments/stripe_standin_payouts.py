"""A small stand-in of Stripe's API over real HTTP, for what localstripe does not serve: listing
a payout's balance transactions (`GET /v1/balance_transactions?payout=...`, sources expanded,
paginated with `has_more` / `starting_after`) and a charge with its balance transaction expanded.

The app reaches it exactly as it reaches Stripe (STRIPE_API_BASE, the stripe library, HTTP), so
what is tested is our adapter and everything behind it, not a mock of our own code. It answers
unknown objects with Stripe's error shape (404, invalid_request_error).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class StripeStandIn:
    """Objects by id, payouts' transaction lists, and a log of the requests it answered."""

    def __init__(self, *, page_size: int = 100) -> None:
        self.objects: dict[str, dict] = {}
        self.payout_transactions: dict[str, list[str]] = {}
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.page_size = page_size
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the name http.server calls
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                standin.requests.append((url.path, query))
                status, body = standin.answer(url.path, query)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_standin")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> StripeStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

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

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict]:
        expand = {v for k, values in query.items() if k.startswith("expand") for v in values}
        parts = path.strip("/").split("/")
        if parts == ["v1", "balance_transactions"]:
            payout = (query.get("payout") or [""])[0]
            if payout not in self.payout_transactions:
                return self._missing(payout)
            ids = self.payout_transactions[payout]
            after = (query.get("starting_after") or [None])[0]
            start = ids.index(after) + 1 if after in ids else 0
            limit = min(int((query.get("limit") or ["10"])[0]), self.page_size)
            page = [self._expanded(self.objects[i], "source" if "data.source" in expand else None)
                    for i in ids[start:start + limit]]
            return 200, {"object": "list", "data": page, "has_more": start + limit < len(ids),
                         "url": "/v1/balance_transactions"}
        if len(parts) == 3 and parts[:2] in (["v1", "charges"], ["v1", "balance_transactions"]):
            obj = self.objects.get(parts[2])
            if obj is None:
                return self._missing(parts[2])
            return 200, self._expanded(obj, "balance_transaction" if "balance_transaction" in expand else None)
        return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL (GET: {path})."}}

    def _expanded(self, obj: dict, field: str | None) -> dict:
        if field and isinstance(obj.get(field), str) and obj[field] in self.objects:
            return {**obj, field: self.objects[obj[field]]}
        return obj

    @staticmethod
    def _missing(object_id: str) -> tuple[int, dict]:
        return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing",
                               "message": f"No such object: '{object_id}'"}}
