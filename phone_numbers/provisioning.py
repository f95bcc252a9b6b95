"""Getting and giving up numbers: search, purchase with rollback, import, release.

A purchase completes whole or leaves no trace. The first month is held before Twilio is
asked, so paying can't fail once the number is bought; the debit (settling the hold) and
the record are one transaction, so money is never taken without a number on record; and
when anything fails after Twilio sold us the number, the number is released in Twilio and
the hold released, so no number is left bought without a record.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import uuid

import asyncpg
import structlog

from billing import holds
from billing.cost_config import ProviderCostsConfig
from billing.ledger import EntryKind
from billing.money import Money
from billing.provider_costs import Cost, number_cost
from billing.usage_details import Unit, UsageDetail
from phone_numbers import periods, pricing, registry
from phone_numbers.carrier import AvailableNumber, CarrierError, NumberType, OwnedNumber, PhoneCarrier, Webhooks
from phone_numbers.config import NumbersConfig
from phone_numbers.errors import CarrierNotConfigured, NumberNotFound, NumberUnavailable, PrimaryNumberRelease
from phone_numbers.registry import NewNumber, Number

log = structlog.get_logger(__name__)

# Twilio: "PhoneNumber Requested is not available" (someone else bought it meanwhile).
TWILIO_NOT_AVAILABLE = 21422
# How long a purchase may take before its hold counts as abandoned.
PURCHASE_HOLD_TTL = datetime.timedelta(minutes=10)
RELEASE_ATTEMPTS = 3


@dataclasses.dataclass(frozen=True)
class Offer:
    """A number Twilio offers, with what it would cost a month here."""

    number: AvailableNumber
    monthly_cost: int
    currency: str


def webhooks_for(public_url: str) -> Webhooks:
    """Our routes for a number's calls, texts and call status, under the public base URL."""
    base = public_url.rstrip("/")
    return Webhooks(voice_url=f"{base}/api/voice-agent/handle-call", sms_url=f"{base}/api/voice-agent/handle-sms",
                    status_callback=f"{base}/api/voice-agent/status")


def _caps(owned: OwnedNumber) -> dict[str, bool]:
    return {"voice": owned.capabilities.voice, "sms": owned.capabilities.sms, "mms": owned.capabilities.mms}


async def search(carrier: PhoneCarrier, prices: NumbersConfig, country: str, number_type: NumberType, *,
                 area_code: str | None, contains: str | None, limit: int) -> list[Offer]:
    """Numbers Twilio offers now, priced; a country/type we have no price for is refused first."""
    cost = pricing.monthly_price(prices.monthly_prices, country, number_type)
    found = await carrier.search(country, number_type, area_code=area_code, contains=contains, limit=limit)
    return [Offer(n, cost, prices.currency) for n in found]


@dataclasses.dataclass(frozen=True)
class PurchaseRequest:
    business_id: uuid.UUID
    phone_number: str
    display_name: str
    country_code: str
    number_type: NumberType
    actor: str


async def purchase(pool: asyncpg.Pool, carrier: PhoneCarrier, prices: NumbersConfig, public_url: str,
                   request: PurchaseRequest, *, now: datetime.datetime,
                   costs: ProviderCostsConfig = ProviderCostsConfig()) -> Number:
    """Buy a number for a business and pay its first month (recording what it costs us), all or nothing.

    Raises:
        PriceNotConfigured: we don't sell that country/type.
        InsufficientFunds: the wallet can't pay the first month; nothing was bought.
        NumberUnavailable: a business here has it, or Twilio no longer offers it (21422).
        CarrierError: Twilio refused for another reason (its code says why, e.g. 21631).
    """
    price = pricing.monthly_money(prices.monthly_prices, prices.currency, request.country_code, request.number_type)
    if await registry.live_number(pool, request.phone_number) is not None:
        raise NumberUnavailable(request.phone_number)
    attempt = uuid.uuid4().hex
    hold = await holds.place_hold(
        pool, business_id=request.business_id, amount=price, expires_at=now + PURCHASE_HOLD_TTL,
        idempotency_key=f"number_purchase:{attempt}:hold", reference=f"number:{request.phone_number}")
    try:
        owned = await carrier.buy(request.phone_number, webhooks_for(public_url))
    except CarrierError as exc:
        await _after_failed_buy(pool, carrier, request.phone_number, exc)
        await holds.release_hold(pool, hold.id)
        if exc.code == TWILIO_NOT_AVAILABLE:
            raise NumberUnavailable(request.phone_number) from exc
        raise
    try:
        ours = number_cost(request.country_code, request.number_type, costs)
        return await _record_purchase(pool, request, owned, price, hold.id, attempt, now, ours)
    except Exception:
        log.exception("number_purchase_record_failed", phone_number=request.phone_number, sid=owned.sid)
        await _release_in_carrier(carrier, owned.sid, request.phone_number)
        await holds.release_hold(pool, hold.id)
        raise


async def _record_purchase(pool: asyncpg.Pool, request: PurchaseRequest, owned: OwnedNumber, price: Money,
                           hold_id: int, attempt: str, now: datetime.datetime, cost: Cost | None) -> Number:
    """Debit the first month (settling the hold) and record the number, in one commit."""
    async with pool.acquire() as conn, conn.transaction():
        await holds.settle(conn, hold_id, amount=price, kind=EntryKind.NUMBER_PURCHASE,
                           idempotency_key=f"number_purchase:{attempt}", actor=request.actor,
                           detail=UsageDetail(1, Unit.NUMBERS, cost))
        return await registry.insert_number(conn, NewNumber(
            business_id=request.business_id, phone_number=owned.phone_number, display_name=request.display_name,
            country_code=request.country_code.upper(), number_type=request.number_type, twilio_sid=owned.sid,
            capabilities=_caps(owned), voice_url=owned.voice_url, sms_url=owned.sms_url,
            status_callback_url=owned.status_callback, monthly_cost=price.amount, currency=price.currency.value,
            rent_anchor=now, rent_periods_paid=1, rent_paid_through=periods.period_start(now, 1)))


async def _after_failed_buy(pool: asyncpg.Pool, carrier: PhoneCarrier, phone_number: str, exc: CarrierError) -> None:
    """After a timeout or a 5xx we can't know whether Twilio sold us the number: look, and undo if it did."""
    if exc.status and exc.status < 500:
        return
    try:
        owned = await carrier.find_owned(phone_number)
    except CarrierError:
        log.error("number_purchase_outcome_unknown", phone_number=phone_number)
        return
    if owned is not None and await registry.live_number(pool, phone_number) is None:
        await _release_in_carrier(carrier, owned.sid, phone_number)


async def _release_in_carrier(carrier: PhoneCarrier, sid: str, phone_number: str) -> None:
    """Give a number we won't keep back to Twilio, retrying briefly; log loudly if it can't be done."""
    for attempt in range(1, RELEASE_ATTEMPTS + 1):
        try:
            await carrier.release(sid)
            log.info("number_purchase_rolled_back", phone_number=phone_number, sid=sid)
            return
        except CarrierError as exc:
            if attempt == RELEASE_ATTEMPTS:
                log.error("number_orphaned_in_twilio", phone_number=phone_number, sid=sid, error=str(exc),
                          code=exc.code)
                return
            await asyncio.sleep(0.2 * attempt)


async def sweep_abandoned_purchases(pool: asyncpg.Pool, carrier: PhoneCarrier, *, now: datetime.datetime) -> int:
    """Undo purchases a dead process left half done: their hold expired without being settled.

    Settling and recording are one commit, so an active purchase hold means the number was
    never recorded by that attempt; if Twilio sold it anyway (the process died after the buy)
    and no business here holds the number, it is released in Twilio; then the hold is released.

    Returns:
        How many abandoned purchases were undone.
    """
    undone = 0
    for hold in await holds.expired_holds(pool, now=now):
        if not (hold.idempotency_key.startswith("number_purchase:") and hold.reference.startswith("number:")):
            continue
        phone_number = hold.reference.removeprefix("number:")
        if await registry.live_number(pool, phone_number) is None:
            owned = await carrier.find_owned(phone_number)
            if owned is not None:
                await _release_in_carrier(carrier, owned.sid, phone_number)
        await holds.release_hold(pool, hold.id)
        log.warning("number_purchase_abandoned", phone_number=phone_number, hold_id=hold.id)
        undone += 1
    return undone


async def import_number(pool: asyncpg.Pool, carrier: PhoneCarrier, prices: NumbersConfig, public_url: str,
                        request: PurchaseRequest, *, now: datetime.datetime) -> Number:
    """Attach a number the Twilio account already owns and point its webhooks at us.

    Its rent starts now: the first month is charged by the next run of the rent job. If the
    record can't be written, the number's previous webhooks are put back.

    Raises:
        PriceNotConfigured, NumberUnavailable (a business here has it), NumberNotFound (not in
        the Twilio account), CarrierError.
    """
    price = pricing.monthly_money(prices.monthly_prices, prices.currency, request.country_code, request.number_type)
    if await registry.live_number(pool, request.phone_number) is not None:
        raise NumberUnavailable(request.phone_number)
    owned = await carrier.find_owned(request.phone_number)
    if owned is None:
        raise NumberNotFound(f"{request.phone_number} is not a number of this Twilio account")
    previous = Webhooks(owned.voice_url, owned.sms_url, owned.status_callback)
    configured = await carrier.configure(owned.sid, webhooks_for(public_url))
    try:
        async with pool.acquire() as conn, conn.transaction():
            return await registry.insert_number(conn, NewNumber(
                business_id=request.business_id, phone_number=configured.phone_number,
                display_name=request.display_name, country_code=request.country_code.upper(),
                number_type=request.number_type, twilio_sid=configured.sid, capabilities=_caps(configured),
                voice_url=configured.voice_url, sms_url=configured.sms_url,
                status_callback_url=configured.status_callback, monthly_cost=price.amount,
                currency=price.currency.value, rent_anchor=now, rent_periods_paid=0, rent_paid_through=now))
    except Exception:
        log.exception("number_import_record_failed", phone_number=request.phone_number, sid=owned.sid)
        await carrier.configure(owned.sid, previous)
        raise


async def release(pool: asyncpg.Pool, carrier: PhoneCarrier | None, number: Number, *,
                  now: datetime.datetime) -> Number:
    """Release a number in Twilio, then mark it released; releasing a released number changes nothing.

    Raises:
        PrimaryNumberRelease: it is the business's primary number.
        CarrierNotConfigured: it is a Twilio number and there is no Twilio client.
        CarrierError: Twilio refused; the number stays ours and on record.
    """
    if number.status == "released":
        return number
    if number.is_primary:
        raise PrimaryNumberRelease()
    if number.twilio_sid is not None:
        if carrier is None:
            raise CarrierNotConfigured()
        await carrier.release(number.twilio_sid)
    return await registry.mark_released(pool, number.id, now)
