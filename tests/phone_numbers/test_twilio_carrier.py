"""TwilioCarrier against the local fake: real SDK requests, Twilio's JSON, errors as CarrierError."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from phone_numbers.carrier import Capabilities, CarrierError, Webhooks
from phone_numbers.twilio_carrier import TwilioCarrier, capabilities_from
from tests.fake_twilio import FakeTwilio

HOOKS = Webhooks(voice_url="https://agent.example.test/api/voice-agent/handle-call",
                 sms_url="https://agent.example.test/api/voice-agent/handle-sms",
                 status_callback="https://agent.example.test/api/voice-agent/status")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as running:
        yield running


@pytest.fixture
async def carrier(fake: FakeTwilio) -> AsyncIterator[TwilioCarrier]:
    client = TwilioCarrier(fake.account_sid, fake.auth_token, fake.base_url)
    yield client
    await client.aclose()


def test_capabilities_are_read_whatever_the_key_case() -> None:
    assert capabilities_from({"voice": True, "SMS": True, "MMS": False, "fax": True}) == Capabilities(True, True, False)
    assert capabilities_from(None) == Capabilities(False, False, False)


async def test_search_sends_twilio_filters_and_reads_its_numbers(fake: FakeTwilio, carrier: TwilioCarrier) -> None:
    fake.offer("+14155550100", locality="San Francisco", region="CA", mms=False)
    fake.offer("+12125550100", locality="New York", region="NY")
    fake.offer("+18005550100", number_type="toll_free")
    found = await carrier.search("US", "local", area_code="415", contains="555", limit=5)
    assert [(n.phone_number, n.locality, n.region) for n in found] == [("+14155550100", "San Francisco", "CA")]
    assert found[0].capabilities == Capabilities(voice=True, sms=True, mms=False)
    assert found[0].friendly_name == "(415) 555-0100"
    (request,) = fake.requests_to("GET", r"AvailablePhoneNumbers/US/Local\.json$")
    assert request.query == {"AreaCode": "415", "Contains": "555", "PageSize": "5"}
    toll_free = await carrier.search("US", "toll_free")
    assert [n.phone_number for n in toll_free] == ["+18005550100"]


async def test_buy_points_the_number_at_our_webhooks(fake: FakeTwilio, carrier: TwilioCarrier) -> None:
    fake.offer("+14155550100")
    owned = await carrier.buy("+14155550100", HOOKS)
    assert owned.sid.startswith("PN") and owned.phone_number == "+14155550100"
    assert (owned.voice_url, owned.sms_url, owned.status_callback) == (HOOKS.voice_url, HOOKS.sms_url,
                                                                      HOOKS.status_callback)
    (request,) = fake.requests_to("POST", r"^IncomingPhoneNumbers\.json$")
    assert request.form["VoiceMethod"] == "POST" and request.form["SmsMethod"] == "POST"
    assert fake.owned[owned.sid]["voice_url"] == HOOKS.voice_url


async def test_a_number_no_longer_available_is_error_21422(fake: FakeTwilio, carrier: TwilioCarrier) -> None:
    with pytest.raises(CarrierError) as caught:
        await carrier.buy("+14155550199", HOOKS)
    assert (caught.value.status, caught.value.code) == (400, 21422)


async def test_a_number_that_needs_an_address_is_error_21631(fake: FakeTwilio, carrier: TwilioCarrier) -> None:
    fake.offer("+442071838750", country="GB", address_requirements="any")
    with pytest.raises(CarrierError) as caught:
        await carrier.buy("+442071838750", HOOKS)
    assert caught.value.code == 21631
    assert "Address" in str(caught.value)


async def test_release_removes_the_number_and_a_second_release_is_harmless(
        fake: FakeTwilio, carrier: TwilioCarrier) -> None:
    sid = fake.own("+14155550111")
    await carrier.release(sid)
    assert sid not in fake.owned and fake.released == ["+14155550111"]
    await carrier.release(sid)


async def test_find_owned_and_configure_for_import(fake: FakeTwilio, carrier: TwilioCarrier) -> None:
    sid = fake.own("+14155550111", voice_url="https://old.example/voice")
    found = await carrier.find_owned("+14155550111")
    assert found is not None and found.sid == sid and found.voice_url == "https://old.example/voice"
    assert await carrier.find_owned("+14155550122") is None
    updated = await carrier.configure(sid, HOOKS)
    assert updated.voice_url == HOOKS.voice_url and fake.owned[sid]["sms_url"] == HOOKS.sms_url


async def test_send_sms_returns_the_message_sid(fake: FakeTwilio, carrier: TwilioCarrier) -> None:
    fake.own("+14155550111")
    sid = await carrier.send_sms("+14155550111", "+14155550999", "Hello there")
    assert sid.startswith("SM")
    assert fake.messages[0]["body"] == "Hello there" and fake.messages[0]["to"] == "+14155550999"


async def test_send_sms_from_a_number_not_in_the_account_is_refused(fake: FakeTwilio, carrier: TwilioCarrier) -> None:
    with pytest.raises(CarrierError) as caught:
        await carrier.send_sms("+14155550111", "+14155550999", "Hello")
    assert caught.value.code == 21606


async def test_end_and_redirect_a_live_call(fake: FakeTwilio, carrier: TwilioCarrier) -> None:
    call_sid = fake.add_call()
    twiml = "<Response><Dial>+14155550123</Dial></Response>"
    await carrier.redirect_call(call_sid, twiml)
    assert fake.calls[call_sid]["twiml"] == [twiml]
    await carrier.end_call(call_sid)
    assert fake.calls[call_sid]["status"] == "completed"
    with pytest.raises(CarrierError) as caught:
        await carrier.redirect_call(call_sid, twiml)
    assert caught.value.code == 21220


async def test_wrong_credentials_are_error_20003(fake: FakeTwilio) -> None:
    carrier = TwilioCarrier(fake.account_sid, "wrong-token", fake.base_url)
    try:
        with pytest.raises(CarrierError) as caught:
            await carrier.search("US", "local")
        assert (caught.value.status, caught.value.code) == (401, 20003)
    finally:
        await carrier.aclose()


async def test_a_slow_twilio_is_a_carrier_error_not_a_hang(fake: FakeTwilio) -> None:
    fake.delay("GET", r"AvailablePhoneNumbers", 5.0)
    carrier = TwilioCarrier(fake.account_sid, fake.auth_token, fake.base_url, timeout_seconds=0.2)
    try:
        with pytest.raises(CarrierError) as caught:
            await carrier.search("US", "local")
        assert caught.value.status == 0
    finally:
        await carrier.aclose()


async def test_injected_server_errors_carry_twilios_code(fake: FakeTwilio, carrier: TwilioCarrier) -> None:
    fake.fail("GET", r"AvailablePhoneNumbers", status=503, code=20503, message="Service unavailable")
    with pytest.raises(CarrierError) as caught:
        await carrier.search("US", "local")
    assert (caught.value.status, caught.value.code) == (503, 20503)
    assert await carrier.search("US", "local") == []
