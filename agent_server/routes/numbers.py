"""Phone number routes for the dashboard (search, purchase, list, edit, release, import) and the rent job."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any

import msgspec
import structlog
from aiohttp import web

from agent_server import agents, auth
from agent_server.api.decoding import read_body, read_query
from agent_server.api.route import Link, Reply, Route, register
from agent_server.api.shapes import as_optional_uuid, as_uuid
from agent_server.errors import ApiError, NotFound, ValidationError, register_error
from agent_server.routes.agent_shapes import BusinessQuery
from agent_server.routes.numbers_shapes import (
    ImportBody,
    NumberList,
    NumberResult,
    PatchBody,
    PurchaseBody,
    SearchBody,
    SearchResult,
)
from agent_server.routes.wallet import register_billing_errors
from agent_server.state import CARRIER, POOL, SETTINGS
from agent_server.validation import path_uuid
from phone_numbers import provisioning, registry, rent
from phone_numbers.carrier import CarrierError, PhoneCarrier
from phone_numbers.errors import (
    CarrierNotConfigured,
    NumberNotFound,
    NumberUnavailable,
    PriceNotConfigured,
    PrimaryNumberRelease,
)
from phone_numbers.registry import Number

log = structlog.get_logger(__name__)

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


async def search_numbers(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_body(request, SearchBody)
    carrier = _carrier(request)
    try:
        offers = await provisioning.search(carrier, request.app[SETTINGS].numbers, body.country_code.upper(),
                                           body.number_type, area_code=body.area_code, contains=body.contains,
                                           limit=body.limit)
    except CarrierError as exc:
        raise twilio_error(exc) from None
    return web.json_response({"success": True, "numbers": [{
        "phoneNumber": o.number.phone_number, "friendlyName": o.number.friendly_name,
        "locality": o.number.locality, "region": o.number.region, "monthlyCost": o.monthly_cost,
        "capabilities": {"voice": o.number.capabilities.voice, "sms": o.number.capabilities.sms,
                         "mms": o.number.capabilities.mms},
    } for o in offers]})


async def _number_request(request: web.Request, body: PurchaseBody | ImportBody) -> provisioning.PurchaseRequest:
    membership = await auth.business_for(request, as_optional_uuid(body.business_id, "businessId"))
    return provisioning.PurchaseRequest(
        business_id=membership.business_id, phone_number=body.phone_number, display_name=body.display_name,
        country_code=body.country_code.upper(), number_type=body.number_type, actor=f"user:{membership.user_id}")


async def purchase_number(request: web.Request) -> web.Response:
    await auth.current_user(request)
    wanted = await _number_request(request, await read_body(request, PurchaseBody))
    carrier = _carrier(request)
    settings = request.app[SETTINGS]
    # Shielded: once Twilio is asked, the purchase runs to its end (recorded or rolled back)
    # even if the client goes away or the server starts shutting down.
    work = provisioning.purchase(request.app[POOL], carrier, settings.numbers, settings.server.public_url, wanted,
                                 now=_now(), costs=settings.provider_costs)
    try:
        number = await asyncio.shield(work)
    except CarrierError as exc:
        raise twilio_error(exc) from None
    return web.json_response({"success": True, "number": number_json(number)}, status=201)


async def import_number(request: web.Request) -> web.Response:
    await auth.current_user(request)
    wanted = await _number_request(request, await read_body(request, ImportBody))
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
    membership = await auth.business_for(request, read_query(request, BusinessQuery).business_id)
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
    body = await read_body(request, PatchBody)
    set_agent = body.agent_id is not msgspec.UNSET
    agent_id = as_uuid(body.agent_id, "agentId") if isinstance(body.agent_id, str) else None
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
        updated = await registry.update_number(conn, locked, display_name=body.display_name, set_agent=set_agent,
                                               agent_id=agent_id, is_primary=body.is_primary)
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
                await rent.run_rent(app[POOL], settings.numbers, now=_now(), costs=settings.provider_costs)
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


# A bought or imported number is then edited and released (an edited one released too): the fuzzer
# follows these links.
_RELEASE_LINK = {"ReleaseNumber": Link("release_number", {"numberId": "$response.body#/number/id"})}
_NUMBER_LINKS = {"EditNumber": Link("patch_number", {"id": "$response.body#/number/id"}), **_RELEASE_LINK}
_CARRIER_ERRORS = (402, 403, 404, 409, 422, 502, 503)
ROUTES = (
    Route("POST", "/api/numbers/search", search_numbers, "Numbers the carrier offers, with our monthly price",
          "numbers", "jwt", (Reply(200, SearchResult),), errors=(422, 502, 503), body=SearchBody),
    Route("POST", "/api/numbers/purchase", purchase_number, "Buy a number (first month paid from the wallet)",
          "numbers", "jwt", (Reply(201, NumberResult, description="Bought", links=_NUMBER_LINKS),),
          errors=_CARRIER_ERRORS, body=PurchaseBody),
    Route("POST", "/api/numbers/import", import_number, "Bring a number the Twilio account owns under the business",
          "numbers", "jwt", (Reply(201, NumberResult, description="Imported", links=_NUMBER_LINKS),),
          errors=_CARRIER_ERRORS, body=ImportBody),
    Route("GET", "/api/numbers", list_numbers, "The business's numbers", "numbers", "jwt", (Reply(200, NumberList),),
          errors=(403, 404), query=BusinessQuery),
    Route("PATCH", "/api/numbers/{id}", patch_number, "Rename, make primary, or (un)assign an agent", "numbers", "jwt",
          (Reply(200, NumberResult, links=_RELEASE_LINK),), errors=(404, 409, 422), body=PatchBody),
    Route("DELETE", "/api/numbers/{numberId}/release", release_number, "Release a number back to the carrier",
          "numbers", "jwt", (Reply(200, NumberResult),), errors=(404, 409, 502, 503)),
)


def setup(app: web.Application) -> None:
    register_billing_errors()
    register_error(CarrierNotConfigured, 503, "TWILIO_NOT_CONFIGURED")
    register_error(NumberUnavailable, 409, "NUMBER_UNAVAILABLE")
    register_error(PrimaryNumberRelease, 409, "PRIMARY_NUMBER_DELETE")
    register_error(PriceNotConfigured, 422, "VALIDATION_ERROR")
    register_error(NumberNotFound, 404, "NOT_FOUND")
    register(app, ROUTES)
    app.cleanup_ctx.append(_rent_job)
