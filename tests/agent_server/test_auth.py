"""Dashboard JWTs: every malformed, expired or foreign token is a 401 with no side effect."""

from __future__ import annotations

import base64
import time
import uuid

import jwt
import orjson
import pytest
from aiohttp.test_utils import TestClient

from agent_server.config import Settings
from tests.conftest import JWT_SECRET, MakeBusiness


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def claims(user_id: uuid.UUID, **over: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {"sub": str(user_id), "aud": "authenticated", "iat": now, "exp": now + 600}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def unsigned(payload: dict[str, object], alg: str) -> str:
    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(payload)}."


async def test_valid_token_reads_me(app_client: TestClient, make_business: MakeBusiness) -> None:  # type: ignore[type-arg]
    tenant = await make_business("Acme")
    resp = await app_client.get("/api/me", headers=tenant.headers)
    assert resp.status == 200
    body = await resp.json()
    assert body["user"]["id"] == str(tenant.user_id)
    assert body["businesses"] == [{"id": str(tenant.business_id), "name": "Acme", "role": "owner"}]


def forged_tokens(user_id: uuid.UUID) -> dict[str, str]:
    now = int(time.time())
    good = jwt.encode(claims(user_id), JWT_SECRET, algorithm="HS256")
    head, payload, sig = good.split(".")
    return {
        "expired": jwt.encode(claims(user_id, iat=now - 7200, exp=now - 3600), JWT_SECRET, algorithm="HS256"),
        "wrong_audience": jwt.encode(claims(user_id, aud="anon"), JWT_SECRET, algorithm="HS256"),
        "no_audience": jwt.encode(claims(user_id, aud=None), JWT_SECRET, algorithm="HS256"),
        "wrong_secret": jwt.encode(claims(user_id), "another-secret-of-sufficient-length-000", algorithm="HS256"),
        "alg_none": unsigned(claims(user_id), "none"),
        "alg_None": unsigned(claims(user_id), "None"),
        "alg_hs512": jwt.encode(claims(user_id), JWT_SECRET, algorithm="HS512"),
        "malformed": "not.a.jwt",
        "garbage": "abc",
        "tampered": f"{head}.{b64(claims(uuid.uuid4()))}.{sig}",
        "missing_sub": jwt.encode(claims(user_id, sub=None), JWT_SECRET, algorithm="HS256"),
        "missing_exp": jwt.encode(claims(user_id, exp=None), JWT_SECRET, algorithm="HS256"),
        "not_yet_valid": jwt.encode(claims(user_id, nbf=now + 3600), JWT_SECRET, algorithm="HS256"),
        "ten_year_anon_style": jwt.encode(claims(user_id, exp=now + 10 * 365 * 86400), JWT_SECRET,
                                          algorithm="HS256"),
        "sub_not_uuid": jwt.encode(claims(user_id, sub="service_role"), JWT_SECRET, algorithm="HS256"),
    }


@pytest.mark.parametrize("case", sorted(forged_tokens(uuid.uuid4())))
async def test_bad_tokens_answer_401(app_client: TestClient, make_business: MakeBusiness, case: str) -> None:  # type: ignore[type-arg]
    tenant = await make_business()
    token = forged_tokens(tenant.user_id)[case]
    resp = await app_client.get(f"/api/businesses/{tenant.business_id}", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc"])
async def test_missing_or_non_bearer_authorization_is_401(app_client: TestClient, header: str | None) -> None:  # type: ignore[type-arg]
    headers = {} if header is None else {"Authorization": header}
    resp = await app_client.get("/api/me", headers=headers)
    assert resp.status == 401


async def test_expired_within_leeway_is_accepted(app_client: TestClient, make_business: MakeBusiness,  # type: ignore[type-arg]
                                                 settings: Settings) -> None:
    tenant = await make_business()
    now = int(time.time())
    token = jwt.encode(claims(tenant.user_id, iat=now - 600, exp=now - settings.auth.jwt_leeway_seconds // 2),
                       JWT_SECRET, algorithm="HS256")
    resp = await app_client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
