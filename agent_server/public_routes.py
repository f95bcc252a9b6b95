"""The routes anyone may call without a dashboard token, each with the reason it is safe.

Every other route takes a JWT and is probed with another business's ids by
`tests/agent_server/test_tenant_enumeration.py`; a route missing from both fails the suite.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

PUBLIC_ROUTES: Mapping[str, str] = MappingProxyType({
    "GET /healthz": "liveness for the load balancer; says nothing about any business",
    "GET /readyz": "readiness for the load balancer; says nothing about any business",
    "GET /api/openapi.json": "the API's OpenAPI document: what the routes take and answer, no data",
    "GET /metrics": "Prometheus text for the scraper (operators expose it only to it); process-wide counts",
    "GET /demo": "the demo page that embeds the seeded demo agent's widget",
    "POST /api/voice-agent/handle-call": "Twilio's voice webhook: X-Twilio-Signature checked, forged -> 403",
    "POST /api/voice-agent/status": "Twilio's status callback: X-Twilio-Signature checked, forged -> 403",
    "POST /api/voice-agent/handle-sms": "Twilio's messaging webhook: X-Twilio-Signature checked, forged -> 403",
    "POST /api/sms/status": "Twilio's SMS delivery callback: X-Twilio-Signature checked, forged -> 403",
    "GET /api/voice-agent/stream": "Twilio Media Streams: signed upgrade and a per-call HMAC stream token",
    "POST /api/payment/webhook": "Stripe's webhook: Stripe-Signature checked, forged -> 400",
    "GET /api/widget/{chatbotId}/config": "the widget's public face of one agent, Origin-checked",
    "GET /api/widget/{chatbotId}/script.js": "the embeddable script, the same for every visitor",
    "GET /api/widget/{chatbotId}/ws": "the visitor's chat socket, Origin-checked before the upgrade",
    "POST /api/widget/{chatbotId}/message": "the visitor's chat without a socket, Origin-checked",
    "OPTIONS /api/widget/{chatbotId}/message": "the CORS preflight of the route above",
    "POST /api/widget/{chatbotId}/voice/token": "a visitor's browser call: Origin-checked, voiceEnabled only, per-IP"
                                                " limited, held from the wallet like a phone call",
    "GET /api/voice/web/stream": "a browser call's media stream: its single-use token in start, its origin before the"
                                 " upgrade",
    "GET /api/chat/inline/{chatbotId}.js": "the widget script in its inline mode, the same for every visitor",
    "GET /m/{chatbotId}": "the agent's hosted chat page, only while its widget's messengerEnabled is on; noindex",
    "POST /api/chat/inline": "the dashboard's alias of the widget's message route (chatbot in the body), Origin-checked",
    "POST /api/chat/messenger/{chatbotId}": "the dashboard's alias of the widget's message route, Origin-checked",
    "POST /api/notifications/contact": "the public contact form: honeypot, 5 per IP per hour, mailed to CONTACT_INBOX",
    "GET /api/notifications/unsubscribe": "the page of an HMAC-signed unsubscribe link; changes nothing",
    "POST /api/notifications/unsubscribe": "RFC 8058 one-click unsubscribe: the link's HMAC names the member",
    "POST /api/customers/portal/session": "exchanges a single-use sign-in link (256-bit token) once; 20 per IP a minute",
    "POST /api/customers/portal/login-link": "queues a sign-in link for an address or an expired link; one fixed 202 answer"
                                             " whatever the address; 10 per IP an hour",
    "GET /api/customers/weekly-summary/unsubscribe": "the page of a customer's HMAC-signed summary unsubscribe link;"
                                                     " changes nothing",
    "POST /api/customers/weekly-summary/unsubscribe": "RFC 8058 one-click unsubscribe of one customer from the weekly"
                                                      " summary: the link's HMAC names the customer",
    "POST /api/customers/send-login-link": "the dashboard's name for the route above (?email=); the same fixed 202",
    "POST /api/forms/submit": "a visitor's form answers: Origin-checked against the form's agent, 64 KB, 10 per IP a minute",
    "OPTIONS /api/forms/submit": "the CORS preflight of the route above (the POST itself checks the Origin)",
})
