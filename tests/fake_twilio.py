"""A local fake of the parts of Twilio's REST API the server uses, speaking its wire format.

Paths are under ``/2010-04-01/Accounts/{AccountSid}/`` with HTTP Basic auth (account SID and
Auth Token; anything else answers 401 with code 20003), form-encoded requests and Twilio's
JSON shapes:

- ``GET AvailablePhoneNumbers/{CC}/Local.json`` (``TollFree.json``, ``Mobile.json``) with
  ``AreaCode``, ``Contains``, ``PageSize``; capabilities keyed ``voice``/``SMS``/``MMS``/``fax``.
- ``GET IncomingPhoneNumbers.json`` (``PhoneNumber`` filter), ``POST IncomingPhoneNumbers.json``
  (buy: 21422 when the number is not available, 21631 when it needs an address and no
  ``AddressSid`` came), ``POST IncomingPhoneNumbers/{PN}.json`` (update),
  ``DELETE IncomingPhoneNumbers/{PN}.json`` (release, 204; unknown sid → 404 code 20404).
- ``POST Messages.json``: ``From`` must be a number the account owns (21606), ``To`` E.164
  (21211), ``Body`` required (21602), an opted-out recipient → 21610; ``StatusCallback`` and
  ``ValidityPeriod`` are kept on the message.
- ``GET Messages.json`` (``To``, ``From``, ``PageSize``; newest first) and ``GET Messages/{SM}.json``:
  how a sender whose answer was lost finds out whether the message went.
- ``POST Calls/{CA}.json``: ``Status=completed`` hangs up, ``Twiml=`` or ``Url=`` redirects a
  live call (21220 when it is not live); calls exist once the test adds them with `add_call`.

Use::

    fake = FakeTwilio()
    base_url = await fake.start()        # TWILIO_API_BASE
    fake.offer("+14155550100")           # a number search and purchase can find
    fake.own("+14155550111")             # a number the account already has (import, SMS From)
    call_sid = fake.add_call()           # a live call to hang up or redirect
    fake.fail("POST", r"IncomingPhoneNumbers\\.json$", status=500, code=20500, message="boom")
    fake.delay("POST", r"Messages\\.json$", 2.0)
    fake.slow_answer("POST", r"Messages\\.json$", 2.0)   # done at once, answered late
    ...
    fake.requests                        # every request: method, path, query, form
    await fake.close()

`FakeTwilio` is also an async context manager (``async with FakeTwilio() as fake:``, then ``fake.base_url``).
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.fake_twilio_wire import API_PREFIX, E164, TYPE_SEGMENTS, Recorded, TwilioError, error_body
from tests.fake_twilio_wire import Failure as _Failure
from tests.fake_twilio_wire import now as _now

@dataclass
class FakeTwilio:
    """State of one fake Twilio account."""

    account_sid: str = "AC" + "0123456789abcdef" * 2
    auth_token: str = "fake-twilio-auth-token"
    available: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    owned: dict[str, dict[str, Any]] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    opted_out: set[str] = field(default_factory=set)
    requests: list[Recorded] = field(default_factory=list)
    base_url: str = ""
    _failures: list[_Failure] = field(default_factory=list)
    _delays: list[tuple[str, re.Pattern[str], float]] = field(default_factory=list)
    _slow_answers: list[tuple[str, re.Pattern[str], float]] = field(default_factory=list)
    _server: TestServer | None = None

    # ---- test-side controls -------------------------------------------------------------

    def offer(self, phone_number: str, *, country: str = "US", number_type: str = "local",
              locality: str = "San Francisco", region: str = "CA", address_requirements: str = "none",
              voice: bool = True, sms: bool = True, mms: bool = True) -> dict[str, Any]:
        """Make a number findable and buyable, as Twilio's inventory would."""
        digits = phone_number.lstrip("+")
        record = {
            "friendly_name": f"({digits[1:4]}) {digits[4:7]}-{digits[7:]}" if country in ("US", "CA") else phone_number,
            "phone_number": phone_number, "lata": "722", "rate_center": "SNFC CNTRL",
            "latitude": "37.780000", "longitude": "-122.400000", "locality": locality, "region": region,
            "postal_code": "94103", "iso_country": country, "address_requirements": address_requirements,
            "beta": False, "capabilities": {"voice": voice, "SMS": sms, "MMS": mms, "fax": False},
        }
        self.available.setdefault((country, number_type), []).append(record)
        return record

    def own(self, phone_number: str, *, voice_url: str = "", sms_url: str = "", status_callback: str = "") -> str:
        """Put a number in the account directly (bought earlier, elsewhere); returns its ``PN…`` sid."""
        record = self._incoming(phone_number, {"voice": True, "sms": True, "mms": False})
        record.update(voice_url=voice_url, sms_url=sms_url, status_callback=status_callback)
        return str(record["sid"])

    def add_call(self, call_sid: str | None = None, *, status: str = "in-progress",
                 from_number: str = "+15005550006", to_number: str = "+14155550100") -> str:
        """A call Twilio knows about, so `Calls/{CA}.json` updates find it."""
        sid = call_sid or f"CA{secrets.token_hex(16)}"
        self.calls[sid] = {"sid": sid, "account_sid": self.account_sid, "status": status, "from": from_number,
                           "to": to_number, "twiml": [], "urls": [], "direction": "inbound",
                           "api_version": "2010-04-01", "date_created": _now(), "date_updated": _now()}
        return sid

    def fail(self, method: str, path_pattern: str, *, status: int, code: int, message: str, times: int = 1,
             after: bool = False) -> None:
        """Answer the next `times` matching requests with this Twilio error.

        With ``after=True`` the request takes effect first and only its answer is lost (a number
        bought, then a 500 or a dropped connection): the case callers can't tell from a failure.
        """
        self._failures.append(_Failure(method.upper(), re.compile(path_pattern), status, code, message, times,
                                       after))

    def delay(self, method: str, path_pattern: str, seconds: float) -> None:
        """Wait `seconds` before answering matching requests (timeouts, slow Twilio)."""
        self._delays.append((method.upper(), re.compile(path_pattern), seconds))

    def slow_answer(self, method: str, path_pattern: str, seconds: float) -> None:
        """Do matching requests at once but answer `seconds` later: a client that gives up can't tell it happened."""
        self._slow_answers.append((method.upper(), re.compile(path_pattern), seconds))

    def requests_to(self, method: str, path_pattern: str) -> list[Recorded]:
        pattern = re.compile(path_pattern)
        return [r for r in self.requests if r.method == method.upper() and pattern.search(r.path)]

    def owned_number(self, phone_number: str) -> dict[str, Any] | None:
        return next((n for n in self.owned.values() if n["phone_number"] == phone_number), None)

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on 127.0.0.1 and return the base URL to use as ``TWILIO_API_BASE``."""
        self._server = TestServer(self.app(), host="127.0.0.1")
        await self._server.start_server()
        self.base_url = str(self._server.make_url("")).rstrip("/")
        return self.base_url

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()
            self._server = None

    async def __aenter__(self) -> FakeTwilio:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", API_PREFIX + "/{account}/{path:.*}", self._dispatch)
        app.router.add_get(API_PREFIX + "/{account}.json", self._account)
        return app

    # ---- wire ---------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            return False
        return user == self.account_sid and password == self.auth_token

    async def _account(self, request: web.Request) -> web.Response:
        """The account fetch (`GET /Accounts/{sid}.json`): what a credentials check asks."""
        self.requests.append(Recorded("GET", request.match_info["account"] + ".json", {}, {}))
        if not self._authorized(request):
            return web.json_response(error_body(401, 20003, "Authenticate"), status=401)
        if request.match_info["account"] != self.account_sid:
            return web.json_response(error_body(404, 20404, f"The requested resource {request.path} was not found"),
                                     status=404)
        return web.json_response({"sid": self.account_sid, "friendly_name": "Fake account", "status": "active",
                                  "type": "Full", "uri": f"{API_PREFIX}/{self.account_sid}.json"})

    async def _dispatch(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()} if request.method == "POST" else {}
        path = request.match_info["path"]
        self.requests.append(Recorded(request.method, path, dict(request.query), form))
        for method, pattern, seconds in self._delays:
            if method == request.method and pattern.search(path):
                await asyncio.sleep(seconds)
        try:
            if not self._authorized(request):
                raise TwilioError(401, 20003, "Authenticate")
            if request.match_info["account"] != self.account_sid:
                raise TwilioError(404, 20404, f"The requested resource {request.path} was not found")
            self._injected_failure(request.method, path, after=False)
            response = self._route(request.method, path, dict(request.query), form)
            self._injected_failure(request.method, path, after=True)
            for method, pattern, seconds in self._slow_answers:
                if method == request.method and pattern.search(path):
                    await asyncio.sleep(seconds)
            return response
        except TwilioError as exc:
            return web.json_response(error_body(exc.status, exc.code, exc.message), status=exc.status)

    def _injected_failure(self, method: str, path: str, *, after: bool) -> None:
        for failure in self._failures:
            if (failure.times > 0 and failure.after == after and failure.method == method
                    and failure.pattern.search(path)):
                failure.times -= 1
                raise TwilioError(failure.status, failure.code, failure.message)

    def _route(self, method: str, path: str, query: dict[str, str], form: dict[str, str]) -> web.Response:
        if m := re.fullmatch(r"AvailablePhoneNumbers/([A-Z]{2})/(Local|TollFree|Mobile)\.json", path):
            if method == "GET":
                return self._search(m.group(1), m.group(2), query)
        elif path == "IncomingPhoneNumbers.json":
            if method == "GET":
                return self._list_incoming(query)
            if method == "POST":
                return self._buy(form)
        elif m := re.fullmatch(r"IncomingPhoneNumbers/(PN[0-9a-f]{32})\.json", path):
            if method == "POST":
                return web.json_response(self._update_incoming(m.group(1), form))
            if method == "DELETE":
                return self._release(m.group(1))
            if method == "GET":
                return web.json_response(self._incoming_by_sid(m.group(1)))
        elif path == "Messages.json" and method == "POST":
            return self._send_message(form)
        elif path == "Messages.json" and method == "GET":
            return self._list_messages(query)
        elif (m := re.fullmatch(r"Messages/(SM[0-9a-f]{32})\.json", path)) and method == "GET":
            found = next((msg for msg in self.messages if msg["sid"] == m.group(1)), None)
            if found is None:
                raise TwilioError(404, 20404, f"The requested resource /{path} was not found")
            return web.json_response(found)
        elif (m := re.fullmatch(r"Calls/(CA[0-9a-f]{32})\.json", path)) and method == "POST":
            return web.json_response(self._update_call(m.group(1), form))
        raise TwilioError(404, 20404, f"The requested resource /{path} was not found")

    def _uri(self, tail: str) -> str:
        return f"{API_PREFIX}/{self.account_sid}/{tail}"

    def _search(self, country: str, segment: str, query: dict[str, str]) -> web.Response:
        number_type = {v: k for k, v in TYPE_SEGMENTS.items()}[segment]
        found = list(self.available.get((country, number_type), []))
        if area := query.get("AreaCode"):
            found = [n for n in found if n["phone_number"].startswith(f"+1{area}")]
        if contains := query.get("Contains"):
            needle = contains.strip("*%+$")
            found = [n for n in found if needle in n["phone_number"]]
        size = int(query.get("PageSize", "50"))
        return web.json_response({"available_phone_numbers": found[:size],
                                  "uri": self._uri(f"AvailablePhoneNumbers/{country}/{segment}.json")})

    def _incoming(self, phone_number: str, capabilities: dict[str, bool]) -> dict[str, Any]:
        sid = f"PN{secrets.token_hex(16)}"
        record: dict[str, Any] = {
            "account_sid": self.account_sid, "address_requirements": "none", "address_sid": None,
            "api_version": "2010-04-01", "beta": False, "bundle_sid": None,
            "capabilities": dict(capabilities, fax=False), "date_created": _now(), "date_updated": _now(),
            "emergency_status": "Inactive", "friendly_name": phone_number, "identity_sid": None,
            "origin": "twilio", "phone_number": phone_number, "sid": sid, "sms_application_sid": "",
            "sms_fallback_method": "POST", "sms_fallback_url": "", "sms_method": "POST", "sms_url": "",
            "status_callback": "", "status_callback_method": "POST", "trunk_sid": None,
            "uri": self._uri(f"IncomingPhoneNumbers/{sid}.json"), "voice_application_sid": None,
            "voice_caller_id_lookup": False, "voice_fallback_method": "POST", "voice_fallback_url": None,
            "voice_method": "POST", "voice_url": "", "status": "in-use",
        }
        self.owned[sid] = record
        return record

    def _list_incoming(self, query: dict[str, str]) -> web.Response:
        found = list(self.owned.values())
        if wanted := query.get("PhoneNumber"):
            found = [n for n in found if n["phone_number"] == wanted]
        size = int(query.get("PageSize", "50"))
        return web.json_response({
            "incoming_phone_numbers": found[:size], "end": max(len(found[:size]) - 1, 0),
            "first_page_uri": self._uri(f"IncomingPhoneNumbers.json?PageSize={size}&Page=0"),
            "next_page_uri": None, "page": 0, "page_size": size, "previous_page_uri": None, "start": 0,
            "uri": self._uri(f"IncomingPhoneNumbers.json?PageSize={size}&Page=0")})

    def _buy(self, form: dict[str, str]) -> web.Response:
        phone = form.get("PhoneNumber", "")
        offer = next(((key, n) for key, numbers in self.available.items() for n in numbers
                      if n["phone_number"] == phone), None)
        if offer is None:
            raise TwilioError(400, 21422, "PhoneNumber Requested is not available")
        key, listed = offer
        if listed["address_requirements"] != "none" and not form.get("AddressSid"):
            raise TwilioError(400, 21631, "Phone Number Requires an Address")
        self.available[key].remove(listed)
        caps = {k.lower(): v for k, v in listed["capabilities"].items() if k != "fax"}
        record = self._incoming(phone, caps)
        record["address_requirements"] = listed["address_requirements"]
        record.update(self._hook_fields(form))
        return web.json_response(record, status=201)

    @staticmethod
    def _hook_fields(form: dict[str, str]) -> dict[str, str]:
        names = {"VoiceUrl": "voice_url", "VoiceMethod": "voice_method", "SmsUrl": "sms_url",
                 "SmsMethod": "sms_method", "StatusCallback": "status_callback",
                 "StatusCallbackMethod": "status_callback_method", "FriendlyName": "friendly_name"}
        return {field_name: form[param] for param, field_name in names.items() if param in form}

    def _incoming_by_sid(self, sid: str) -> dict[str, Any]:
        record = self.owned.get(sid)
        if record is None:
            raise TwilioError(404, 20404, f"The requested resource {self._uri(f'IncomingPhoneNumbers/{sid}.json')}"
                                          " was not found")
        return record

    def _update_incoming(self, sid: str, form: dict[str, str]) -> dict[str, Any]:
        record = self._incoming_by_sid(sid)
        record.update(self._hook_fields(form), date_updated=_now())
        return record

    def _release(self, sid: str) -> web.Response:
        record = self._incoming_by_sid(sid)
        del self.owned[sid]
        self.released.append(record["phone_number"])
        return web.Response(status=204)

    def _send_message(self, form: dict[str, str]) -> web.Response:
        sender, to, body = form.get("From", ""), form.get("To", ""), form.get("Body", "")
        if not E164.match(to.removeprefix("whatsapp:")):
            raise TwilioError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if self.owned_number(sender.removeprefix("whatsapp:")) is None:
            raise TwilioError(400, 21606, f"The From phone number {sender} is not a valid, SMS-capable inbound"
                                          " phone number or short code for your account.")
        if not body:
            raise TwilioError(400, 21602, "Message body is required.")
        if to in self.opted_out:
            raise TwilioError(400, 21610, "Attempt to send to unsubscribed recipient")
        sid = f"SM{secrets.token_hex(16)}"
        message: dict[str, Any] = {"sid": sid, "account_sid": self.account_sid, "from": sender, "to": to, "body": body,
                   "status": "queued", "direction": "outbound-api", "num_segments": "1", "num_media": "0",
                   "api_version": "2010-04-01", "date_created": _now(), "date_updated": _now(),
                   "date_sent": None, "error_code": None, "error_message": None, "price": None,
                   "price_unit": "USD", "messaging_service_sid": None,
                   "uri": self._uri(f"Messages/{sid}.json"), "subresource_uris": {},
                   "status_callback": form.get("StatusCallback"), "validity_period": form.get("ValidityPeriod")}
        self.messages.append(message)
        return web.json_response(message, status=201)

    def _list_messages(self, query: dict[str, str]) -> web.Response:
        found = [m for m in reversed(self.messages)
                 if m["to"] == query.get("To", m["to"]) and m["from"] == query.get("From", m["from"])]
        size = int(query.get("PageSize", "50"))
        listed = [{k: v for k, v in m.items() if k not in ("status_callback", "validity_period")} for m in found[:size]]
        return web.json_response({
            "messages": listed, "end": max(len(listed) - 1, 0), "first_page_uri": self._uri("Messages.json?Page=0"),
            "next_page_uri": None, "page": 0, "page_size": size, "previous_page_uri": None, "start": 0,
            "uri": self._uri("Messages.json?Page=0")})

    def _update_call(self, sid: str, form: dict[str, str]) -> dict[str, Any]:
        call = self.calls.get(sid)
        if call is None:
            raise TwilioError(404, 20404, f"The requested resource {self._uri(f'Calls/{sid}.json')} was not found")
        live = call["status"] in ("queued", "ringing", "in-progress")
        if form.get("Status") == "completed":
            if live:
                call["status"] = "completed"
        elif form.get("Status") == "canceled":
            if call["status"] in ("queued", "ringing"):
                call["status"] = "canceled"
        elif "Twiml" in form or "Url" in form:
            if not live:
                raise TwilioError(400, 21220, "Call is not in-progress. Cannot redirect.")
            if "Twiml" in form:
                call["twiml"].append(form["Twiml"])
            if "Url" in form:
                call["urls"].append(form["Url"])
        call["date_updated"] = _now()
        return {k: v for k, v in call.items() if k not in ("twiml", "urls")}
