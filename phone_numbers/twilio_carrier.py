"""The phone carrier on Twilio's REST API: the twilio SDK's ``*_async`` methods over aiohttp.

The SDK builds every request (paths, form fields, filters, error parsing), which keeps us on
Twilio's real wire shapes; the transport under it is `AiohttpTwilioClient`, an
`AsyncHttpClient` of our own, so no call blocks the event loop. We don't use the SDK's
`AsyncTwilioHttpClient`: in twilio 9.13 it authenticates with ``aiohttp.BasicAuth``, which
aiohttp 3.14 deprecates (a warning per request), and it ignores its own timeout. The SDK has
no base-URL option, so the API domain is pointed at ``TWILIO_API_BASE`` after the client is
built, which is also how tests reach the local fake.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from phone_numbers.carrier import (
    AvailableNumber,
    Capabilities,
    CarrierError,
    CarrierMessage,
    NumberType,
    OwnedNumber,
    Webhooks,
)

T = TypeVar("T")

# Twilio answers 20404 for a resource that doesn't exist (e.g. a number already released).
NOT_FOUND = 20404


class AiohttpTwilioClient(AsyncHttpClient):  # type: ignore[misc]
    """The SDK's async transport on one aiohttp session, Basic auth sent as a header."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("twilio.http"), True)
        self._session: aiohttp.ClientSession | None = None

    async def request(self, method: str, uri: str, params: dict[str, object] | None = None,
                      data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
                      auth: tuple[str, str] | None = None, timeout: float | None = None,
                      allow_redirects: bool = False) -> Response:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        sent = dict(headers or {})
        if auth is not None:
            sent["Authorization"] = aiohttp.encode_basic_auth(*auth)
        query = [(k, str(item)) for k, v in (params or {}).items()
                 for item in (v if isinstance(v, (list, tuple)) else [v])]
        body = None
        if data is not None:  # encoded here: aiohttp's FormData was a fifth of a send's CPU (py-spy)
            body = urlencode(data, doseq=True).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        async with self._session.request(method.upper(), uri, params=query, data=body, headers=sent,
                                         allow_redirects=allow_redirects) as response:
            return Response(response.status, await response.text(), response.headers)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _page_error(exc: TwilioException) -> CarrierError:
    """The SDK raises a bare TwilioException with the response for a failed list page; read its error."""
    response = exc.args[1] if len(exc.args) > 1 else None
    if not isinstance(response, Response):
        return CarrierError(f"unexpected answer from Twilio: {exc}", status=502)
    try:
        body = json.loads(response.text)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return CarrierError(f"Twilio answered {response.status_code}", status=response.status_code)
    code = body.get("code")
    return CarrierError(str(body.get("message") or f"Twilio answered {response.status_code}"),
                        status=response.status_code, code=code if isinstance(code, int) else None)


def capabilities_from(raw: Mapping[str, Any] | None) -> Capabilities:
    """Read Twilio's capabilities object, whose keys are mixed case (``voice``, ``SMS``, ``MMS``)."""
    lowered = {str(k).lower(): bool(v) for k, v in (raw or {}).items()}
    return Capabilities(voice=lowered.get("voice", False), sms=lowered.get("sms", False),
                        mms=lowered.get("mms", False))


def _owned(instance: Any) -> OwnedNumber:
    return OwnedNumber(sid=instance.sid, phone_number=instance.phone_number,
                       capabilities=capabilities_from(instance.capabilities),
                       voice_url=instance.voice_url or "", sms_url=instance.sms_url or "",
                       status_callback=instance.status_callback or "")


def _available(instance: Any) -> AvailableNumber:
    return AvailableNumber(phone_number=instance.phone_number, friendly_name=instance.friendly_name or "",
                           locality=instance.locality or "", region=instance.region or "",
                           capabilities=capabilities_from(instance.capabilities),
                           address_requirements=instance.address_requirements or "none")


def _hooks(webhooks: Webhooks) -> dict[str, str]:
    return {"voice_url": webhooks.voice_url, "voice_method": "POST", "sms_url": webhooks.sms_url,
            "sms_method": "POST", "status_callback": webhooks.status_callback, "status_callback_method": "POST"}


class TwilioCarrier:
    """`PhoneCarrier` on one Twilio account.

    Args:
        account_sid: ``AC…``.
        auth_token: the account's Auth Token (HTTP Basic password).
        api_base: where Twilio's REST API is, normally ``https://api.twilio.com``.
        timeout_seconds: deadline for each request, connection included.
    """

    def __init__(self, account_sid: str, auth_token: str, api_base: str, *, timeout_seconds: float = 10.0) -> None:
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._api_base = api_base.rstrip("/")
        self._timeout = timeout_seconds
        self._http: AiohttpTwilioClient | None = None
        self._client: Any = None

    def _api(self) -> Any:
        """The SDK's v2010 account, built on first use (an aiohttp session wants a running loop)."""
        if self._client is None:
            self._http = AiohttpTwilioClient()
            client = Client(self._account_sid, self._auth_token, http_client=self._http)
            # TWILIO_EDGE / TWILIO_REGION from the environment would rewrite the host; we don't want that.
            client.edge = None
            client.region = None
            client.api.base_url = self._api_base
            self._client = client
        return self._client.api.v2010.account

    async def _call(self, request: Awaitable[T]) -> T:
        """Run one SDK request under our deadline, with its failures as `CarrierError`."""
        try:
            async with asyncio.timeout(self._timeout):
                return await request
        except TwilioRestException as exc:
            code = exc.code if isinstance(exc.code, int) else None
            raise CarrierError(str(exc.msg or "Twilio refused the request"), status=exc.status, code=code) from None
        except TimeoutError:
            raise CarrierError(f"Twilio did not answer within {self._timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise CarrierError(f"Twilio could not be reached: {exc}") from None
        except TwilioException as exc:
            raise _page_error(exc) from None

    async def search(self, country: str, number_type: NumberType, *, area_code: str | None = None,
                     contains: str | None = None, limit: int = 20) -> list[AvailableNumber]:
        country_numbers = self._api().available_phone_numbers(country)
        listing = {"local": country_numbers.local, "toll_free": country_numbers.toll_free,
                   "mobile": country_numbers.mobile}[number_type]
        filters: dict[str, Any] = {"limit": limit, "page_size": limit}
        if area_code:
            filters["area_code"] = area_code
        if contains:
            filters["contains"] = contains
        found = await self._call(listing.list_async(**filters))
        return [_available(n) for n in found]

    async def buy(self, phone_number: str, webhooks: Webhooks) -> OwnedNumber:
        created = await self._call(self._api().incoming_phone_numbers.create_async(
            phone_number=phone_number, **_hooks(webhooks)))
        return _owned(created)

    async def release(self, sid: str) -> None:
        """Release a number from the account; one that is already gone (20404) counts as released."""
        try:
            await self._call(self._api().incoming_phone_numbers(sid).delete_async())
        except CarrierError as exc:
            if exc.code != NOT_FOUND:
                raise

    async def find_owned(self, phone_number: str) -> OwnedNumber | None:
        found = await self._call(self._api().incoming_phone_numbers.list_async(
            phone_number=phone_number, limit=1, page_size=1))
        return _owned(found[0]) if found else None

    async def configure(self, sid: str, webhooks: Webhooks) -> OwnedNumber:
        updated = await self._call(self._api().incoming_phone_numbers(sid).update_async(**_hooks(webhooks)))
        return _owned(updated)

    async def send_sms(self, from_number: str, to_number: str, body: str) -> str:
        """Send a message; returns its ``SM…`` sid."""
        message = await self._call(self._api().messages.create_async(from_=from_number, to=to_number, body=body))
        sid: str = message.sid
        return sid

    async def send_message(self, from_number: str, to_number: str, body: str, *, status_callback: str,
                           validity_seconds: int | None = None) -> CarrierMessage:
        """Send with Twilio calling `status_callback` on each status change; `validity_seconds` 1..36,000."""
        extra: dict[str, Any] = {} if validity_seconds is None else {"validity_period": validity_seconds}
        message = await self._call(self._api().messages.create_async(
            from_=from_number, to=to_number, body=body, status_callback=status_callback, **extra))
        return CarrierMessage(message.sid, message.body or "", message.status or "queued")

    async def recent_messages(self, from_number: str, to_number: str, *, limit: int = 20) -> list[CarrierMessage]:
        found = await self._call(self._api().messages.list_async(from_=from_number, to=to_number, limit=limit,
                                                                 page_size=limit))
        return [CarrierMessage(m.sid, m.body or "", m.status or "") for m in found]

    async def fetch_message(self, sid: str) -> CarrierMessage | None:
        """``GET Messages/{sid}.json``: its status now (the reconciler's lookup); None on 20404."""
        try:
            m = await self._call(self._api().messages(sid).fetch_async())
        except CarrierError as exc:
            if exc.code == NOT_FOUND:
                return None
            raise
        return CarrierMessage(m.sid, m.body or "", m.status or "", m.error_code)

    async def end_call(self, call_sid: str) -> None:
        """Hang up a live call (``Status=completed``; ``canceled`` would only stop a ringing one)."""
        await self._call(self._api().calls(call_sid).update_async(status="completed"))

    async def redirect_call(self, call_sid: str, twiml: str) -> None:
        await self._call(self._api().calls(call_sid).update_async(twiml=twiml))

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
            self._client = None
