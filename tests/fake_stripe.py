"""A local fake of the parts of Stripe's API billing uses, speaking its wire format, plus webhook signing.

- ``POST /v1/checkout/sessions``: form-encoded with bracket keys (``line_items[0][price_data][unit_amount]``),
  ``Authorization: Bearer sk_…``, ``Idempotency-Key`` replay (same key and parameters → the same
  session with ``Idempotent-Replayed: true``; same key, other parameters → 400 ``idempotency_error``).
- ``GET /v1/events``: newest first, ``type``/``types[n]``, ``created[gte]``, ``limit``, ``starting_after``.
- ``GET /v1/balance_transactions``: newest first, ``created[gte]``/``created[lt]``, ``limit``, ``starting_after``,
  ``expand[]=data.source``. A paid charge books one (``charge``, with Stripe's card fee, 2.9 % + 30), a refund
  one (``refund``), a dispute one (``adjustment``, category ``dispute``, its fee) and a won dispute its reversal.
- Test-side helpers that make Stripe "happen": complete a session (paid or not), let a delayed payment
  succeed, report the charge's ``charge.succeeded`` (charges carry a ``receipt_url``), refund part of a charge, open a dispute on it, move it on (``updated``) and close it won or
  lost; each returns the event Stripe would send and keeps it for listing.
- `signature_header` signs a body with the real ``stripe.WebhookSignature.generate_signature_header``.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import stripe
from aiohttp import web
from aiohttp.test_utils import TestServer

API_VERSION = "2026-10-28.endive"


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A valid ``Stripe-Signature`` for `payload`, made by the stripe library itself."""
    header: str = stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, timestamp)
    return header


def unflatten(form: Mapping[str, str]) -> dict[str, Any]:
    """Turn Stripe's bracket keys back into nested objects; objects keyed 0..n become lists."""
    root: dict[str, Any] = {}
    for key, value in form.items():
        head, _, rest = key.partition("[")
        parts = [head] + ([p.rstrip("]") for p in rest.split("[")] if rest else [])
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    result: dict[str, Any] = _lists(root)
    return result


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def _error(status: int, type_: str, message: str, param: str | None = None) -> web.Response:
    body = {"error": {"type": type_, "message": message, **({"param": param} if param else {})}}
    return web.json_response(body, status=status, headers={"Request-Id": f"req_{secrets.token_hex(6)}"})


@dataclass
class FakeStripe:
    """State of the fake account: sessions, charges and every event it has emitted."""

    secret_key: str = "sk_test_fake"
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    disputes: dict[str, dict[str, Any]] = field(default_factory=dict)
    balance_transactions: list[dict[str, Any]] = field(default_factory=list)
    booked_charges: set[str] = field(default_factory=set)
    dispute_fee: int = 1500
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    idempotency: dict[str, tuple[bytes, dict[str, Any]]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _id(self, prefix: str) -> str:
        return f"{prefix}_test_{next(self._ids):06d}{secrets.token_hex(4)}"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/checkout/sessions", self._create_session)
        app.router.add_get("/v1/events", self._list_events)
        app.router.add_get("/v1/balance_transactions", self._list_balance_transactions)
        return app

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.secret_key}"

    async def _create_session(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        raw = await request.read()
        params = unflatten({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        self.requests.append({"path": request.path, "headers": dict(request.headers), "params": params})
        key = request.headers.get("Idempotency-Key")
        if key and key in self.idempotency:
            first_raw, first_response = self.idempotency[key]
            if first_raw != raw:
                return _error(400, "idempotency_error",
                              "Keys for idempotent requests can only be used with the same parameters"
                              " they were first used with.")
            return web.json_response(first_response, headers={"Idempotent-Replayed": "true"})
        problem = _session_problem(params)
        if problem:
            return _error(400, "invalid_request_error", problem[1], problem[0])
        session = self._new_session(params)
        if key:
            self.idempotency[key] = (raw, session)
        return web.json_response(session)

    def _new_session(self, params: dict[str, Any]) -> dict[str, Any]:
        item = params["line_items"][0]
        session_id = self._id("cs")
        session = {
            "id": session_id, "object": "checkout.session", "mode": params["mode"],
            "amount_total": int(item["price_data"]["unit_amount"]) * int(item.get("quantity", 1)),
            "currency": item["price_data"]["currency"], "payment_status": "unpaid", "status": "open",
            "client_reference_id": params.get("client_reference_id"), "metadata": params.get("metadata", {}),
            "payment_intent": None, "success_url": params["success_url"], "cancel_url": params["cancel_url"],
            "url": f"https://checkout.stripe.test/c/pay/{session_id}", "livemode": False,
            "created": int(time.time()),
            "_payment_intent_metadata": params.get("payment_intent_data", {}).get("metadata", {}),
        }
        self.sessions[session_id] = session
        return {k: v for k, v in session.items() if not k.startswith("_")}

    async def _list_events(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        query = request.query
        # The SDK sends arrays with indices (types[0]=…); curl users send types[]=….
        types = {v for k, v in query.items() if k == "type" or re.fullmatch(r"types\[\d*\]", k)}
        gte = int(query.get("created[gte]", "0"))
        limit = int(query.get("limit", "10"))
        newest_first = sorted(self.events, key=lambda e: (e["created"], e["id"]), reverse=True)
        chosen = [e for e in newest_first if (not types or e["type"] in types) and e["created"] >= gte]
        if "starting_after" in query:
            ids = [e["id"] for e in chosen]
            chosen = chosen[ids.index(query["starting_after"]) + 1:]
        page = chosen[:limit]
        return web.json_response({"object": "list", "url": "/v1/events", "data": page,
                                  "has_more": len(chosen) > limit})

    def event(self, type_: str, obj: dict[str, Any], created: int | None = None) -> dict[str, Any]:
        """Emit an event about `obj` (kept for List Events) and return its payload."""
        payload = {"id": self._id("evt"), "object": "event", "api_version": API_VERSION,
                   "created": created or int(time.time()), "livemode": False, "type": type_,
                   "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
                   "data": {"object": obj}}
        self.events.append(payload)
        return payload

    def _public(self, session: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in session.items() if not k.startswith("_")}

    def complete_session(self, session_id: str, *, paid: bool = True) -> dict[str, Any]:
        """The customer finishes the page: a card (paid) or a delayed method (unpaid)."""
        session = self.sessions[session_id]
        if session["payment_intent"] is None:
            session["payment_intent"] = self._id("pi")
            charge_id = self._id("ch")
            self.charges[charge_id] = {
                "id": charge_id, "object": "charge", "amount": session["amount_total"], "amount_refunded": 0,
                "currency": session["currency"], "payment_intent": session["payment_intent"], "refunded": False,
                "metadata": dict(session["_payment_intent_metadata"]), "livemode": False,
                "receipt_url": f"https://pay.stripe.com/receipts/payment/{charge_id}",
            }
        session["status"] = "complete"
        session["payment_status"] = "paid" if paid else "unpaid"
        if paid:
            self._charge_paid(self.charge_of(session_id))
        return self.event("checkout.session.completed", self._public(session))

    def charge_succeeded(self, session_id: str) -> dict[str, Any]:
        """``charge.succeeded`` of the session's charge (with its receipt_url); Stripe sends it beside
        the session's events, in any order (emitted on request, so other tests' event lists stay as they were)."""
        return self.event("charge.succeeded", dict(self.charge_of(session_id)))

    def async_payment_succeeded(self, session_id: str) -> dict[str, Any]:
        """A delayed payment (bank debit) clears."""
        session = self.sessions[session_id]
        session["payment_status"] = "paid"
        self._charge_paid(self.charge_of(session_id))
        return self.event("checkout.session.async_payment_succeeded", self._public(session))

    def expire_session(self, session_id: str) -> dict[str, Any]:
        session = self.sessions[session_id]
        session["status"] = "expired"
        return self.event("checkout.session.expired", self._public(session))

    def charge_of(self, session_id: str) -> dict[str, Any]:
        pi = self.sessions[session_id]["payment_intent"]
        return next(c for c in self.charges.values() if c["payment_intent"] == pi)

    def refund(self, session_id: str, amount: int) -> dict[str, Any]:
        """Refund part of the session's charge; the event carries the cumulative refunded amount.

        As in current API versions, the charge in the event does not embed its refunds list.
        """
        charge = self.charge_of(session_id)
        if charge["amount_refunded"] + amount > charge["amount"]:
            raise ValueError("refund exceeds charge")
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refund = {"id": self._id("re"), "object": "refund", "amount": amount, "charge": charge["id"],
                  "currency": charge["currency"]}
        self.book("refund", -amount, charge["currency"], refund, category="refund")
        return self.event("charge.refunded", dict(charge))

    def _charge_paid(self, charge: dict[str, Any]) -> None:
        if charge["id"] not in self.booked_charges:
            self.booked_charges.add(charge["id"])
            self.book("charge", charge["amount"], charge["currency"], dict(charge), category="charge",
                      fee=(charge["amount"] * 29 + 999) // 1000 + 30)

    def book(self, type_: str, amount: int, currency: str, source: dict[str, Any], *, category: str, fee: int = 0,
             created: int | None = None) -> dict[str, Any]:
        """Add a balance transaction (tests may add one Stripe made without telling us)."""
        txn = {"id": self._id("txn"), "object": "balance_transaction", "amount": amount, "currency": currency,
               "fee": fee, "net": amount - fee, "type": type_, "reporting_category": category,
               "source": source, "created": created or int(time.time()), "status": "available"}
        self.balance_transactions.append(txn)
        return txn

    async def _list_balance_transactions(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        query = request.query
        gte, lt = int(query.get("created[gte]", "0")), int(query.get("created[lt]", str(2**62)))
        expand = "data.source" in query.getall("expand[0]", []) + query.getall("expand[]", [])
        chosen = [t for t in sorted(self.balance_transactions, key=lambda t: (t["created"], t["id"]), reverse=True)
                  if gte <= t["created"] < lt]
        if "starting_after" in query:
            ids = [t["id"] for t in chosen]
            chosen = chosen[ids.index(query["starting_after"]) + 1:]
        limit = int(query.get("limit", "10"))
        page = [t if expand else {**t, "source": t["source"]["id"]} for t in chosen[:limit]]
        return web.json_response({"object": "list", "url": "/v1/balance_transactions", "data": page,
                                  "has_more": len(chosen) > limit})

    def dispute(self, session_id: str, amount: int | None = None, reason: str = "fraudulent") -> dict[str, Any]:
        """The cardholder disputes the session's charge (all of it unless `amount`): ``charge.dispute.created``."""
        charge = self.charge_of(session_id)
        dispute_id = self._id("dp")
        self.disputes[dispute_id] = {
            "id": dispute_id, "object": "dispute", "amount": amount or charge["amount"], "currency": charge["currency"],
            "charge": charge["id"], "payment_intent": charge["payment_intent"], "reason": reason,
            "status": "needs_response", "is_charge_refundable": False, "metadata": {}, "livemode": False,
            "created": int(time.time()),
        }
        charge["disputed"] = True
        dispute = self.disputes[dispute_id]
        self.book("adjustment", -dispute["amount"], dispute["currency"], {"id": dispute_id, "object": "dispute"},
                  category="dispute", fee=self.dispute_fee)
        return self.event("charge.dispute.created", dict(dispute))

    def update_dispute(self, dispute_id: str, status: str = "under_review") -> dict[str, Any]:
        """Evidence submitted (or another change): ``charge.dispute.updated``."""
        self.disputes[dispute_id]["status"] = status
        return self.event("charge.dispute.updated", dict(self.disputes[dispute_id]))

    def close_dispute(self, dispute_id: str, *, won: bool) -> dict[str, Any]:
        """The bank decides: ``charge.dispute.closed`` with status ``won`` or ``lost``."""
        dispute = self.disputes[dispute_id]
        dispute["status"] = "won" if won else "lost"
        if won:
            self.book("adjustment", dispute["amount"], dispute["currency"], {"id": dispute_id, "object": "dispute"},
                      category="dispute_reversal")
        return self.event("charge.dispute.closed", dict(self.disputes[dispute_id]))


@asynccontextmanager
async def running(fake: FakeStripe) -> AsyncIterator[str]:
    """Serve `fake` on 127.0.0.1 and yield its base URL (for STRIPE_API_BASE)."""
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def body_of(event: Mapping[str, Any]) -> bytes:
    """The exact bytes to deliver (and sign) for an event."""
    return orjson.dumps(event)


def _session_problem(params: dict[str, Any]) -> tuple[str, str] | None:
    if params.get("mode") != "payment":
        return "mode", "Invalid mode: must be payment"
    for name in ("success_url", "cancel_url"):
        if not params.get(name):
            return name, f"Missing required param: {name}."
    try:
        item = params["line_items"][0]
        amount = int(item["price_data"]["unit_amount"])
        currency = item["price_data"]["currency"]
    except (KeyError, IndexError, TypeError, ValueError):
        return "line_items", "Missing or invalid line_items[0][price_data]."
    if amount <= 0 or currency != currency.lower():
        return "line_items[0][price_data]", "Invalid amount or currency."
    return None
