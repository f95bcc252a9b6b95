"""The `[customers]` config section: where the portal lives, its session secret and lifetimes, the link limits."""

from __future__ import annotations

import dataclasses

from config_fields import check, positive, secret, url
from customers.reply_addresses import check_domain


@dataclasses.dataclass(frozen=True)
class CustomersConfig:
    # The dashboard's customer portal: a sign-in link opens `{portal_url}/login#token=...` (a fragment
    # reaches no server log and no Referer).
    portal_url: str = check(url, "http://127.0.0.1:3000/portal")
    # CUSTOMER_JWT_SECRET: signs portal sessions (HS256, audience customer-portal); never the dashboard's.
    # Empty turns the portal's sign-in off (503), except under `make run`, which generates one.
    jwt_secret: str = secret()
    # A portal session lasts this long; logout or disabling the customer ends it at once.
    session_hours: int = check(positive, 12)
    # A mailed link may be exchanged once, within this many minutes.
    link_minutes: int = check(positive, 15)
    # At most this many links are mailed to one address per `link_minutes` (more are dropped silently).
    links_per_address: int = check(positive, 3)
    # Per client IP: link requests an hour, and link exchanges a minute (beyond them: 429).
    link_requests_per_ip_per_hour: int = check(positive, 10)
    exchanges_per_ip_per_minute: int = check(positive, 20)
    # CUSTOMER_INBOUND_DOMAIN: where `agent-server inbound-smtp` takes requesters' replies. Set, a staff
    # reply's Reply-To is `t+<ticket>.<hmac>@{inbound_domain}` and the answer joins the ticket; empty
    # (the default), Reply-To is the business's support address (else its owners).
    inbound_domain: str = check(check_domain, "")
