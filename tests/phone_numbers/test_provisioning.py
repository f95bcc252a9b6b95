"""Search, purchase with rollback, release and import, through the real routes and the fake Twilio."""

from __future__ import annotations

import datetime

import asyncpg

from billing import holds
from billing.money import Currency, Money
from phone_numbers import provisioning, registry
from phone_numbers.twilio_carrier import TwilioCarrier
from tests.conftest import PUBLIC_URL, MakeBusiness
from tests.fake_twilio import FakeTwilio
from tests.phone_numbers.conftest import Client, Fund, balance, entries

VOICE_URL = f"{PUBLIC_URL}/api/voice-agent/handle-call"
SMS_URL = f"{PUBLIC_URL}/api/voice-agent/handle-sms"
STATUS_URL = f"{PUBLIC_URL}/api/voice-agent/status"
PHONE = "+14155550100"


def purchase_body(business_id: object, phone: str = PHONE, **extra: object) -> dict[str, object]:
    return {"phoneNumber": phone, "businessId": str(business_id), "displayName": "Front desk",
            "countryCode": "US", "numberType": "local", **extra}


async def test_search_lists_twilios_numbers_with_our_monthly_price(
        client: Client, fake_twilio: FakeTwilio, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    fake_twilio.offer(PHONE, locality="San Francisco", region="CA", mms=False)
    fake_twilio.offer("+442071838750", country="GB", locality="London", region="")
    resp = await client.post("/api/numbers/search", headers=tenant.headers,
                             json={"countryCode": "US", "numberType": "local", "areaCode": "415", "limit": 5})
    assert resp.status == 200
    assert await resp.json() == {"success": True, "numbers": [{
        "phoneNumber": PHONE, "friendlyName": "(415) 555-0100", "locality": "San Francisco", "region": "CA",
        "monthlyCost": 150, "capabilities": {"voice": True, "sms": True, "mms": False}}]}
    resp = await client.post("/api/numbers/search", headers=tenant.headers,
                             json={"countryCode": "gb", "numberType": "local"})
    assert [(n["phoneNumber"], n["monthlyCost"]) for n in (await resp.json())["numbers"]] == [("+442071838750", 225)]


async def test_search_refuses_bad_input_and_unpriced_countries(client: Client, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    for body, field in (({"countryCode": "US", "numberType": "landline"}, "numberType"),
                        ({"countryCode": "USA", "numberType": "local"}, "countryCode"),
                        ({"countryCode": "US", "numberType": "local", "limit": 500}, "limit"),
                        ({"countryCode": "US", "numberType": "local", "contains": "5"}, "contains")):
        resp = await client.post("/api/numbers/search", headers=tenant.headers, json=body)
        assert resp.status == 422, body
        assert (await resp.json())["error"]["field"] == field
    resp = await client.post("/api/numbers/search", headers=tenant.headers,
                             json={"countryCode": "FR", "numberType": "local"})
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "VALIDATION_ERROR"


async def test_without_twilio_number_routes_answer_503(app_client: Client, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    resp = await app_client.post("/api/numbers/search", headers=tenant.headers,
                                 json={"countryCode": "US", "numberType": "local"})
    assert resp.status == 503 and (await resp.json())["error"]["code"] == "TWILIO_NOT_CONFIGURED"
    resp = await app_client.post("/api/numbers/purchase", headers=tenant.headers,
                                 json=purchase_body(tenant.business_id))
    assert resp.status == 503


async def test_purchase_buys_wires_pays_and_records_the_number(
        client: Client, fake_twilio: FakeTwilio, make_business: MakeBusiness, fund: Fund,
        pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    await fund(tenant.business_id, 1000)
    fake_twilio.offer(PHONE, mms=False)
    resp = await client.post("/api/numbers/purchase", headers=tenant.headers, json=purchase_body(tenant.business_id))
    assert resp.status == 201, await resp.text()
    number = (await resp.json())["number"]
    owned = fake_twilio.owned_number(PHONE)
    assert owned is not None
    assert (owned["voice_url"], owned["sms_url"], owned["status_callback"]) == (VOICE_URL, SMS_URL, STATUS_URL)
    assert number["twilioSid"] == owned["sid"] and number["phoneNumber"] == PHONE
    assert number["capabilities"] == {"voice": True, "sms": True, "mms": False}
    assert (number["monthlyCost"], number["currency"], number["status"]) == (150, "USD", "active")
    assert number["isPrimary"] is True and number["displayName"] == "Front desk"
    assert await balance(pool, tenant.business_id) == (850, 0)
    assert [(e["amount"], e["reference"]) for e in await entries(pool, "number_purchase")] == [(-150, f"number:{PHONE}")]
    listed = await (await client.get("/api/numbers", headers=tenant.headers)).json()
    assert [n["id"] for n in listed["numbers"]] == [number["id"]]
    route = await registry.route_for(pool, PHONE)
    assert route is not None and route.business_id == tenant.business_id and route.status == "active"


async def test_a_second_number_is_not_primary(client: Client, fake_twilio: FakeTwilio, make_business: MakeBusiness,
                                             fund: Fund) -> None:
    tenant = await make_business()
    await fund(tenant.business_id, 1000)
    fake_twilio.offer(PHONE)
    fake_twilio.offer("+18005550100", number_type="toll_free")
    await client.post("/api/numbers/purchase", headers=tenant.headers, json=purchase_body(tenant.business_id))
    resp = await client.post("/api/numbers/purchase", headers=tenant.headers, json=purchase_body(
        tenant.business_id, "+18005550100", numberType="toll_free"))
    number = (await resp.json())["number"]
    assert (number["isPrimary"], number["monthlyCost"], number["numberType"]) == (False, 300, "toll_free")


async def test_purchase_with_too_little_money_buys_nothing(
        client: Client, fake_twilio: FakeTwilio, make_business: MakeBusiness, fund: Fund,
        pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    await fund(tenant.business_id, 149)
    fake_twilio.offer(PHONE)
    resp = await client.post("/api/numbers/purchase", headers=tenant.headers, json=purchase_body(tenant.business_id))
    assert resp.status == 402 and (await resp.json())["error"]["code"] == "INSUFFICIENT_BALANCE"
    assert fake_twilio.requests_to("POST", r"IncomingPhoneNumbers") == [] and fake_twilio.owned == {}
    assert await balance(pool, tenant.business_id) == (149, 0)
    assert await pool.fetchval("SELECT count(*) FROM business_numbers") == 0


async def test_database_failure_after_twilio_purchase_releases_number_and_money(
        client: Client, fake_twilio: FakeTwilio, make_business: MakeBusiness, fund: Fund,
        pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    await fund(tenant.business_id, 1000)
    fake_twilio.offer(PHONE)
    await pool.execute("""
        CREATE FUNCTION refuse_number() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'disk full'; END $$;
        CREATE TRIGGER refuse_number BEFORE INSERT ON business_numbers FOR EACH ROW EXECUTE FUNCTION refuse_number();
    """)
    resp = await client.post("/api/numbers/purchase", headers=tenant.headers, json=purchase_body(tenant.business_id))
    assert resp.status == 500
    assert len(fake_twilio.requests_to("POST", r"^IncomingPhoneNumbers\.json$")) == 1
    assert len(fake_twilio.requests_to("DELETE", r"^IncomingPhoneNumbers/PN")) == 1
    assert fake_twilio.owned == {} and fake_twilio.released == [PHONE]
    assert await balance(pool, tenant.business_id) == (1000, 0)
    assert await entries(pool, "number_purchase") == []
    assert await pool.fetchval("SELECT status FROM holds") == "released"
    assert await pool.fetchval("SELECT count(*) FROM business_numbers") == 0


async def test_number_taken_meanwhile_is_409_and_costs_nothing(
        client: Client, fake_twilio: FakeTwilio, make_business: MakeBusiness, fund: Fund,
        pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    await fund(tenant.business_id, 1000)
    # Listed in a search a moment ago, bought by someone else since: Twilio answers 21422.
    resp = await client.post("/api/numbers/purchase", headers=tenant.headers, json=purchase_body(tenant.business_id))
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "NUMBER_UNAVAILABLE"
    assert await balance(pool, tenant.business_id) == (1000, 0)
    assert await pool.fetchval("SELECT status FROM holds") == "released"


async def test_a_number_another_business_holds_is_409_before_twilio_is_asked(
        client: Client, fake_twilio: FakeTwilio, make_business: MakeBusiness, fund: Fund) -> None:
    first, second = await make_business("First"), await make_business("Second")
    for tenant in (first, second):
        await fund(tenant.business_id, 1000)
    fake_twilio.offer(PHONE)
    assert (await client.post("/api/numbers/purchase", headers=first.headers,
                              json=purchase_body(first.business_id))).status == 201
    resp = await client.post("/api/numbers/purchase", headers=second.headers, json=purchase_body(second.business_id))
    assert resp.status == 409
    assert len(fake_twilio.requests_to("POST", r"^IncomingPhoneNumbers\.json$")) == 1


async def test_twilios_own_refusal_is_passed_on_with_its_code(
        client: Client, fake_twilio: FakeTwilio, make_business: MakeBusiness, fund: Fund,
        pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    await fund(tenant.business_id, 1000)
    fake_twilio.offer("+442071838750", country="GB", address_requirements="any")
    resp = await client.post("/api/numbers/purchase", headers=tenant.headers, json=purchase_body(
        tenant.business_id, "+442071838750", countryCode="GB"))
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert (error["code"], error["twilioCode"]) == ("TWILIO_ERROR", 21631)
    assert "Address" in error["message"]
    assert await balance(pool, tenant.business_id) == (1000, 0)


async def test_a_purchase_whose_answer_was_lost_is_undone_in_twilio(
        client: Client, fake_twilio: FakeTwilio, make_business: MakeBusiness, fund: Fund,
        pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    await fund(tenant.business_id, 1000)
    fake_twilio.offer(PHONE)
    fake_twilio.fail("POST", r"^IncomingPhoneNumbers\.json$", status=500, code=20500, message="Internal error",
                     after=True)
    resp = await client.post("/api/numbers/purchase", headers=tenant.headers, json=purchase_body(tenant.business_id))
    assert resp.status == 502 and (await resp.json())["error"]["twilioCode"] == 20500
    assert fake_twilio.owned == {} and fake_twilio.released == [PHONE]
    assert await balance(pool, tenant.business_id) == (1000, 0)


async def test_purchase_for_a_business_you_are_not_in_is_404(
        client: Client, fake_twilio: FakeTwilio, make_business: MakeBusiness, fund: Fund) -> None:
    mine, theirs = await make_business("Mine"), await make_business("Theirs")
    await fund(theirs.business_id, 1000)
    fake_twilio.offer(PHONE)
    resp = await client.post("/api/numbers/purchase", headers=mine.headers, json=purchase_body(theirs.business_id))
    assert resp.status == 404
    assert fake_twilio.owned_number(PHONE) is None


async def _buy(client: Client, fake: FakeTwilio, tenant_headers: object, business_id: object,
               phone: str) -> dict[str, object]:
    fake.offer(phone)
    resp = await client.post("/api/numbers/purchase", headers=tenant_headers,  # type: ignore[arg-type]
                             json=purchase_body(business_id, phone))
    assert resp.status == 201, await resp.text()
    number: dict[str, object] = (await resp.json())["number"]
    return number


async def test_release_gives_the_number_back_but_not_the_primary(
        client: Client, fake_twilio: FakeTwilio, make_business: MakeBusiness, fund: Fund,
        pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    await fund(tenant.business_id, 1000)
    primary = await _buy(client, fake_twilio, tenant.headers, tenant.business_id, PHONE)
    other = await _buy(client, fake_twilio, tenant.headers, tenant.business_id, "+14155550101")
    resp = await client.delete(f"/api/numbers/{primary['id']}/release", headers=tenant.headers)
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "PRIMARY_NUMBER_DELETE"
    assert fake_twilio.owned_number(PHONE) is not None
    resp = await client.delete(f"/api/numbers/{other['id']}/release", headers=tenant.headers)
    assert resp.status == 200
    released = (await resp.json())["number"]
    assert released["status"] == "released" and released["releasedAt"] is not None
    assert fake_twilio.released == ["+14155550101"]
    assert await registry.route_for(pool, "+14155550101") is None
    again = await client.delete(f"/api/numbers/{other['id']}/release", headers=tenant.headers)
    assert again.status == 200 and len(fake_twilio.requests_to("DELETE", "IncomingPhoneNumbers")) == 1
    # Once another number is primary, the old primary can go.
    third = await _buy(client, fake_twilio, tenant.headers, tenant.business_id, "+14155550102")
    resp = await client.patch(f"/api/numbers/{third['id']}", headers=tenant.headers, json={"isPrimary": True})
    assert (await resp.json())["number"]["isPrimary"] is True
    resp = await client.delete(f"/api/numbers/{primary['id']}/release", headers=tenant.headers)
    assert resp.status == 200 and fake_twilio.owned_number(PHONE) is None
    listed = await (await client.get("/api/numbers", headers=tenant.headers)).json()
    assert [n["phoneNumber"] for n in listed["numbers"]] == ["+14155550102"]


async def test_patch_renames_assigns_an_agent_and_moves_primary(
        client: Client, fake_twilio: FakeTwilio, make_business: MakeBusiness, fund: Fund) -> None:
    tenant, stranger = await make_business("Mine"), await make_business("Theirs")
    await fund(tenant.business_id, 1000)
    first = await _buy(client, fake_twilio, tenant.headers, tenant.business_id, PHONE)
    second = await _buy(client, fake_twilio, tenant.headers, tenant.business_id, "+14155550101")
    agent = await (await client.post("/api/agents", headers=tenant.headers, json={"name": "Ava"})).json()
    foreign = await (await client.post("/api/agents", headers=stranger.headers, json={"name": "Eve"})).json()
    resp = await client.patch(f"/api/numbers/{second['id']}", headers=tenant.headers,
                              json={"displayName": "Sales", "agentId": agent["id"], "isPrimary": True})
    assert resp.status == 200
    patched = (await resp.json())["number"]
    assert (patched["displayName"], patched["agentId"], patched["isPrimary"]) == ("Sales", agent["id"], True)
    listed = (await (await client.get("/api/numbers", headers=tenant.headers)).json())["numbers"]
    assert [(n["id"], n["isPrimary"]) for n in listed] == [(second["id"], True), (first["id"], False)]
    resp = await client.patch(f"/api/numbers/{second['id']}", headers=tenant.headers, json={"agentId": foreign["id"]})
    assert resp.status == 404 and (await resp.json())["error"] == {"code": "NOT_FOUND", "message": "no such agent"}
    resp = await client.patch(f"/api/numbers/{second['id']}", headers=tenant.headers, json={"agentId": None})
    assert (await resp.json())["number"]["agentId"] is None


async def test_another_business_number_is_404_on_every_route(
        client: Client, fake_twilio: FakeTwilio, make_business: MakeBusiness, fund: Fund) -> None:
    owner, other = await make_business("Owner"), await make_business("Other")
    await fund(owner.business_id, 1000)
    number = await _buy(client, fake_twilio, owner.headers, owner.business_id, PHONE)
    resp = await client.patch(f"/api/numbers/{number['id']}", headers=other.headers, json={"displayName": "Mine now"})
    assert resp.status == 404
    resp = await client.delete(f"/api/numbers/{number['id']}/release", headers=other.headers)
    assert resp.status == 404
    resp = await client.get(f"/api/numbers?businessId={owner.business_id}", headers=other.headers)
    assert resp.status == 404
    assert (await (await client.get("/api/numbers", headers=other.headers)).json())["numbers"] == []
    resp = await client.post("/api/numbers/import", headers=other.headers,
                             json={"phoneNumber": PHONE, "businessId": str(owner.business_id)})
    assert resp.status == 404
    assert fake_twilio.owned_number(PHONE) is not None and fake_twilio.released == []


async def test_import_attaches_an_owned_number_and_points_it_at_us(
        client: Client, fake_twilio: FakeTwilio, make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    sid = fake_twilio.own("+14155550111", voice_url="https://old.example/voice")
    resp = await client.post("/api/numbers/import", headers=tenant.headers, json={
        "phoneNumber": "+14155550111", "businessId": str(tenant.business_id), "displayName": "Legacy"})
    assert resp.status == 201, await resp.text()
    number = (await resp.json())["number"]
    assert (number["twilioSid"], number["displayName"], number["monthlyCost"]) == (sid, "Legacy", 150)
    assert (fake_twilio.owned[sid]["voice_url"], fake_twilio.owned[sid]["sms_url"]) == (VOICE_URL, SMS_URL)
    assert fake_twilio.owned[sid]["status_callback"] == STATUS_URL
    assert await entries(pool, "number_purchase") == []
    resp = await client.post("/api/numbers/import", headers=tenant.headers, json={"phoneNumber": "+14155550111"})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "NUMBER_UNAVAILABLE"
    resp = await client.post("/api/numbers/import", headers=tenant.headers, json={"phoneNumber": "+14155550122"})
    assert resp.status == 404


async def test_an_import_that_cannot_be_recorded_restores_the_old_webhooks(
        client: Client, fake_twilio: FakeTwilio, make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    sid = fake_twilio.own("+14155550111", voice_url="https://old.example/voice", sms_url="https://old.example/sms")
    await pool.execute("""
        CREATE FUNCTION refuse_number() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'disk full'; END $$;
        CREATE TRIGGER refuse_number BEFORE INSERT ON business_numbers FOR EACH ROW EXECUTE FUNCTION refuse_number();
    """)
    resp = await client.post("/api/numbers/import", headers=tenant.headers, json={"phoneNumber": "+14155550111"})
    assert resp.status == 500
    assert fake_twilio.owned[sid]["voice_url"] == "https://old.example/voice"
    assert fake_twilio.owned[sid]["sms_url"] == "https://old.example/sms"


async def test_a_purchase_abandoned_by_a_dead_process_is_undone_once_its_hold_expires(
        fake_twilio: FakeTwilio, make_business: MakeBusiness, fund: Fund, pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    await fund(tenant.business_id, 1000)
    started = datetime.datetime.now(datetime.UTC)
    # What a process killed right after Twilio's answer leaves: a purchase hold and a bought number.
    await holds.place_hold(pool, business_id=tenant.business_id, amount=Money(150, Currency.USD),
                           expires_at=started + provisioning.PURCHASE_HOLD_TTL,
                           idempotency_key="number_purchase:dead:hold", reference=f"number:{PHONE}")
    fake_twilio.own(PHONE)
    carrier = TwilioCarrier(fake_twilio.account_sid, fake_twilio.auth_token, fake_twilio.base_url)
    try:
        assert await provisioning.sweep_abandoned_purchases(pool, carrier, now=started) == 0
        later = started + provisioning.PURCHASE_HOLD_TTL
        assert await provisioning.sweep_abandoned_purchases(pool, carrier, now=later) == 1
        assert await provisioning.sweep_abandoned_purchases(pool, carrier, now=later) == 0
    finally:
        await carrier.aclose()
    assert fake_twilio.owned == {} and fake_twilio.released == [PHONE]
    assert await balance(pool, tenant.business_id) == (1000, 0)
