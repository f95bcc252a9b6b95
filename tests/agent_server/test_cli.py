"""The administrative CLI: each command's --json output is what scripts build on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_server.auth import verify_token
from agent_server.cli import main
from agent_server.config import load_settings
from tests.conftest import JWT_SECRET


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main([*argv, "--json"]) == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return out


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SUPABASE_JWT_SECRET", JWT_SECRET)


def test_cli_creates_tenant_agent_number_and_token(cli_env: None, capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    business = run(capsys, "business", "create", "--name", "Clinic")
    user = run(capsys, "user", "create", "--email", "Owner@Example.com")
    assert user["email"] == "owner@example.com"
    member = run(capsys, "member", "add", "--business", str(business["id"]), "--user", str(user["id"]),
                 "--role", "owner")
    assert member["role"] == "owner"
    faq = tmp_path / "faq.json"
    faq.write_text(json.dumps([{"question": "Hours?", "answer": "Nine to five."}]))
    agent = run(capsys, "agent", "create", "--business", str(business["id"]), "--name", "Desk", "--faq", str(faq))
    assert agent["faqEntries"] == 1
    number = run(capsys, "number", "add", "--business", str(business["id"]), "--phone", "+14155550100",
                 "--agent", str(agent["id"]))
    assert number["phoneNumber"] == "+14155550100"
    token = run(capsys, "token", "--user", str(user["id"]), "--ttl", "600")
    settings = load_settings(env={"SUPABASE_JWT_SECRET": JWT_SECRET})
    assert str(verify_token(settings.auth, str(token["token"]))) == user["id"]


def test_cli_refuses_bad_input_with_exit_code_1(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    business = run(capsys, "business", "create", "--name", "Clinic")
    assert main(["number", "add", "--business", str(business["id"]), "--phone", "555-1234"]) == 1
    assert "E.164" in capsys.readouterr().err
