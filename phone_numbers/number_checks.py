"""The carrier's side of the provider check: Twilio accepts our account, and each number calls us back here.

A number whose voice or SMS webhook points elsewhere (an old tunnel URL, another deployment)
rings or texts into the void; comparing what Twilio holds with `webhooks_for(PUBLIC_URL)` finds
it before a caller does. Plain REST round trips with the account's basic auth, each within the
check's 5 s; the token never appears in a result.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from yarl import URL

from media.checks.results import CheckFailed, CheckResult, not_configured, refused, timed
from phone_numbers.provisioning import webhooks_for

Hook = Literal["voice", "sms"]
_API_VERSION = "2010-04-01"


@dataclass(frozen=True, slots=True)
class TwilioAccount:
    account_sid: str
    auth_token: str
    api_base: str

    @property
    def configured(self) -> bool:
        return bool(self.account_sid and self.auth_token)

    @property
    def authorization(self) -> str:
        """HTTP basic auth by hand: aiohttp's BasicAuth helper is deprecated."""
        return "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()

    def url(self, tail: str) -> URL:
        return URL(self.api_base.rstrip("/") + f"/{_API_VERSION}/Accounts/{self.account_sid}{tail}")


async def _get(session: aiohttp.ClientSession, account: TwilioAccount, url: URL, what: str) -> Any:
    async with session.get(url, headers={"Authorization": account.authorization}) as resp:
        if resp.status in (401, 403, 404):
            # An unknown account sid is a 404: for the operator it is the same wrong credential.
            raise CheckFailed("auth_failed", f"answered {resp.status}: {await resp.text()}")
        if resp.status != 200:
            raise refused(resp.status, await resp.text(), not_found="webhook_mismatch", what=what)
        return await resp.json()


async def _account(session: aiohttp.ClientSession, account: TwilioAccount) -> None:
    found = await _get(session, account, account.url(".json"), "account")
    if found.get("status") not in (None, "active"):
        raise CheckFailed("auth_failed", f"the account is {found.get('status')}")


async def _number(session: aiohttp.ClientSession, account: TwilioAccount, phone_number: str,
                  hooks: Sequence[Hook], public_url: str) -> None:
    url = account.url("/IncomingPhoneNumbers.json").with_query(PhoneNumber=phone_number)
    page = await _get(session, account, url, phone_number)
    owned = page.get("incoming_phone_numbers") or []
    if not owned:
        raise CheckFailed("webhook_mismatch", f"{phone_number} is not in this Twilio account")
    expected = webhooks_for(public_url)
    wrong = [f"{hook} webhook is {owned[0].get(f'{hook}_url') or 'empty'}, expected {want}"
             for hook, want in (("voice", expected.voice_url), ("sms", expected.sms_url))
             if hook in hooks and (owned[0].get(f"{hook}_url") or "") != want]
    if wrong:
        raise CheckFailed("webhook_mismatch", "; ".join(wrong))


async def check_twilio(session: aiohttp.ClientSession, account: TwilioAccount, numbers: Sequence[str], *,
                       hooks: Sequence[Hook], public_url: str) -> list[CheckResult]:
    """The account, then each number's `hooks` against `public_url`, checked at once.

    Without an account sid and token nothing is asked: one `not_configured` result says so.
    """
    if not account.configured:
        return [not_configured("twilio", "account", "", "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set")]
    checks = [timed("twilio", "account", account.account_sid, _account(session, account))]
    checks += [timed("twilio", "webhooks", n, _number(session, account, n, hooks, public_url)) for n in numbers]
    return list(await asyncio.gather(*checks))
