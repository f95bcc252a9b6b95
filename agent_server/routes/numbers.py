"""Phone number routes for the dashboard (search, purchase, list, edit, release, import) and the rent job."""

from __future__ import annotations

import asyncio
import datetime
import re
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

import structlog
from aiohttp import web

from agent_server import agents, auth
from agent_server.errors import ApiError, NotFound, ValidationError, register_error
from agent_server.routes.wallet import register_billing_errors
from agent_server.state import CARRIER, POOL, SETTINGS
from agent_server.validation import get_bool, get_int, get_str, get_uuid, path_uuid, read_json
from phone_numbers import provisioning, registry, rent
from phone_numbers.carrier import CarrierError, NumberType, PhoneCarrier
from phone_numbers.errors import (
    CarrierNotConfigured,
    NumberNotFound,
    NumberUnavailable,
    PriceNotConfigured,
    PrimaryNumberRelease,
)
from phone_numbers.registry import E164, Number

log = structlog.get_logger(__name__)

NUMBER_TYPES = ("local", "toll_free", "mobile")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_AREA_CODE = re.compile(r"^[0-9]{2,6}$")
# Twilio's pattern syntax: digits and letters with the * % + $ meta-characters, 2 to 16 long.
_CONTAINS = re.compile(r"^[0-9A-Za-z*%+$]{2,16}$")
MAX_SEARCH = 50


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def number_json(number: Number) -> dict[str, Any]:
    def iso(value: datetime.datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    caps = number.capabilities
    return {
        "id": str(number.id), "businessId": str(number.business_id), "phoneNumber": number.phone_number,
        "displayName": number.display_name, "countryCode": number.country_code, "numberType": number.number_type,
        "twilioSid": number.twilio_sid,
        "capabilities": {"voice": caps.get("voice", False), "sms": caps.get("sms", False),
                         "mms": caps.get("mms", False)},
        "monthlyCost": number.monthly_cost, "currency": number.currency, "isPrimary": number.is_primary,
        "status": number.status, "agentId": None if number.agent_id is None else str(number.agent_id),
        "createdAt": iso(number.created_at), "rentPaidThrough": iso(number.rent_paid_through),
        "suspendedAt": iso(number.suspended_at), "releasedAt": iso(number.released_at),
    }


def _carrier(request: web.Request) -> PhoneCarrier:
    carrier = request.app[CARRIER]
    if carrier is None:
        raise CarrierNotConfigured()
    return carrier


def twilio_error(exc: CarrierError) -> ApiError:
    """Pass Twilio's refusal on with its code; a request Twilio rejected (400) is the caller's to fix."""
    status = 422 if exc.status == 400 else 502
    return ApiError(status, "TWILIO_ERROR", f"Twilio: {exc}", twilioCode=exc.code, twilioStatus=exc.status)


def _phone(body: dict[str, Any]) -> str:
    phone: str = get_str(body, "phoneNumber", max_length=16)
    if not E164.match(phone):
        raise ValidationError("phoneNumber", "must be an E.164 phone number like +14155550100")
    return phone


def _country(body: dict[str, Any], *, required: bool) -> str:
    """The country; an import may leave it out (the account's numbers are mostly US)."""
    value: str = get_str(body, "countryCode", max_length=2) if required else \
        get_str(body, "countryCode", default="US", max_length=2)
    if not _COUNTRY.match(value):
        raise ValidationError("countryCode", "must be an ISO 3166 alpha-2 code like US")
    return value.upper()


def _number_type(body: dict[str, Any], *, required: bool) -> NumberType:
    value: NumberType = get_str(body, "numberType", choices=NUMBER_TYPES) if required else \
        get_str(body, "numberType", default="local", choices=NUMBER_TYPES)
    return value


async def search_numbers(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_json(request)
    country, number_type = _country(body, required=True), _number_type(body, required=True)
    area_code = get_str(body, "areaCode", default=None, max_length=6)
    if area_code is not None and not _AREA_CODE.match(area_code):
        raise ValidationError("areaCode", "must be digits")
    contains = get_str(body, "contains", default=None, max_length=16)
    if contains is not None and not _CONTAINS.match(contains):
        raise ValidationError("contains", "must be 2 to 16 digits or letters, with * % + $ as wildcards")
    limit = get_int(body, "limit", default=20, minimum=1, maximum=MAX_SEARCH)
    carrier = _carrier(request)
    try:
        offers = await provisioning.search(carrier, request.app[SETTINGS].numbers, country, number_type,
                                           area_code=area_code, contains=contains, limit=limit)
    except CarrierError as exc:
        raise twilio_error(exc) from None
    return web.json_response({"success": True, "numbers": [{
        "phoneNumber": o.number.phone_number, "friendlyName": o.number.friendly_name,
        "locality": o.number.locality, "region": o.number.region, "monthlyCost": o.monthly_cost,
        "capabilities": {"voice": o.number.capabilities.voice, "sms": o.number.capabilities.sms,
                         "mms": o.number.capabilities.mms},
    } for o in offers]})


async def _number_request(request: web.Request, body: dict[str, Any], *,
                          required: bool) -> provisioning.PurchaseRequest:
    membership = await auth.business_for(request, get_uuid(body, "businessId", default=None))
    return provisioning.PurchaseRequest(
        business_id=membership.business_id, phone_number=_phone(body),
        display_name=get_str(body, "displayName", default="", max_length=200),
        country_code=_country(body, required=required), number_type=_number_type(body, required=required),
        actor=f"user:{membership.user_id}")


async def purchase_number(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_json(request)
    wanted = await _number_request(request, body, required=True)
    carrier = _carrier(request)
    settings = request.app[SETTINGS]
    # Shielded: once Twilio is asked, the purchase runs to its end (recorded or rolled back)
    # even if the client goes away or the server starts shutting down.
    work = provisioning.purchase(request.app[POOL], carrier, settings.numbers, settings.server.public_url, wanted,
                                 now=_now())
    try:
        number = await asyncio.shield(work)
    except CarrierError as exc:
        raise twilio_error(exc) from None
    return web.json_response({"success": True, "number": number_json(number)}, status=201)


async def import_number(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_json(request)
    wanted = await _number_request(request, body, required=False)
    carrier = _carrier(request)
    settings = request.app[SETTINGS]
    work = provisioning.import_number(request.app[POOL], carrier, settings.numbers, settings.server.public_url,
                                      wanted, now=_now())
    try:
        number = await asyncio.shield(work)
    except CarrierError as exc:
        raise twilio_error(exc) from None
    return web.json_response({"success": True, "number": number_json(number)}, status=201)


async def list_numbers(request: web.Request) -> web.Response:
    membership = await auth.business_for(request, request.query.get("businessId"))
    found = await registry.numbers_of(request.app[POOL], membership.business_id)
    return web.json_response({"success": True, "numbers": [number_json(n) for n in found]})


async def _own_number(request: web.Request, name: str) -> Number:
    """The number in the path, if the caller is a member of its business; 404 alike for others'."""
    await auth.current_user(request)
    number = await registry.get_number(request.app[POOL], path_uuid(request, name))
    if number is None:
        raise NotFound("number not found")
    try:
        await auth.business_for(request, number.business_id)
    except NotFound:
        raise NotFound("number not found") from None
    return number


async def patch_number(request: web.Request) -> web.Response:
    number = await _own_number(request, "id")
    body = await read_json(request)
    display_name = get_str(body, "displayName", default=None, max_length=200)
    is_primary = get_bool(body, "isPrimary", default=None)
    set_agent = "agentId" in body
    agent_id = get_uuid(body, "agentId", default=None) if set_agent else None
    pool = request.app[POOL]
    if agent_id is not None:
        agent = await agents.get_agent(pool, agent_id)
        if agent is None or agent.business_id != number.business_id:
            # As for any id naming another business's object: the answer a missing one gets.
            raise NotFound("no such agent")
    async with pool.acquire() as conn, conn.transaction():
        locked = await registry.lock_number(conn, number.id)
        if locked is None or locked.status == "released":
            raise NotFound("number not found")
        updated = await registry.update_number(conn, locked, display_name=display_name, set_agent=set_agent,
                                               agent_id=agent_id, is_primary=is_primary)
    return web.json_response({"success": True, "number": number_json(updated)})


async def release_number(request: web.Request) -> web.Response:
    number = await _own_number(request, "numberId")
    try:
        released = await provisioning.release(request.app[POOL], request.app[CARRIER], number, now=_now())
    except CarrierError as exc:
        raise twilio_error(exc) from None
    return web.json_response({"success": True, "number": number_json(released)})


async def _rent_job(app: web.Application) -> AsyncIterator[None]:
    """Every configured interval: the rent job (single across processes by its advisory lock),
    then undo purchases a dead process left half done."""
    settings = app[SETTINGS]

    async def loop() -> None:
        while True:
            try:
                await rent.run_rent(app[POOL], settings.numbers, now=_now())
                carrier = app[CARRIER]
                if carrier is not None:
                    await provisioning.sweep_abandoned_purchases(app[POOL], carrier, now=_now())
            except Exception:
                log.exception("rent_job_failed")
            await asyncio.sleep(settings.numbers.rent_job_interval_seconds)

    task = asyncio.create_task(loop(), name="number-rent")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def setup(app: web.Application) -> None:
    register_billing_errors()
    register_error(CarrierNotConfigured, 503, "TWILIO_NOT_CONFIGURED")
    register_error(NumberUnavailable, 409, "NUMBER_UNAVAILABLE")
    register_error(PrimaryNumberRelease, 409, "PRIMARY_NUMBER_DELETE")
    register_error(PriceNotConfigured, 422, "VALIDATION_ERROR")
    register_error(NumberNotFound, 404, "NOT_FOUND")
    app.router.add_post("/api/numbers/search", search_numbers)
    app.router.add_post("/api/numbers/purchase", purchase_number)
    app.router.add_post("/api/numbers/import", import_number)
    app.router.add_get("/api/numbers", list_numbers)
    app.router.add_patch("/api/numbers/{id}", patch_number)
    app.router.add_delete("/api/numbers/{numberId}/release", release_number)
    app.cleanup_ctx.append(_rent_job)
