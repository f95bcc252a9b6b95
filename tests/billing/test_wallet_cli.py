"""`agent-server wallet credit|debit|show|set-credit-limit`: adjustments name the operator and never overdraw."""

from __future__ import annotations

import getpass
import json
from typing import Any

import pytest

from agent_server.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    out: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return out


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)


def test_credit_debit_and_show(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    business = run(capsys, "business", "create", "--name", "Clinic")["id"]
    credited = run(capsys, "wallet", "credit", "--business", business, "--amount", "1500", "--currency", "usd",
                   "--reason", "goodwill credit, ticket 42", "--idempotency-key", "ticket-42")
    assert credited["entry"]["amount"] == 1500 and credited["entry"]["type"] == "adjustment"
    assert credited["entry"]["actor"] == f"operator:{getpass.getuser()}"
    assert credited["entry"]["reference"] == "goodwill credit, ticket 42"
    again = run(capsys, "wallet", "credit", "--business", business, "--amount", "1500", "--currency", "USD",
                "--reason", "goodwill credit, ticket 42", "--idempotency-key", "ticket-42")
    assert again["entry"]["id"] == credited["entry"]["id"], "a repeated command with its key runs once"
    debited = run(capsys, "wallet", "debit", "--business", business, "--amount", "500", "--currency", "USD",
                  "--reason", "manual correction")
    assert debited["entry"]["amount"] == -500 and debited["entry"]["balanceAfter"] == 1000
    shown = run(capsys, "wallet", "show", "--business", business)
    assert shown["wallets"] == [{"currency": "USD", "balance": 1000, "held": 0, "available": 1000, "creditLimit": 0,
                                 "updatedAt": shown["wallets"][0]["updatedAt"]}]
    assert [e["amount"] for e in shown["recent"]] == [-500, 1500]
    assert main(["wallet", "show", "--business", business]) == 0
    text = capsys.readouterr().out
    assert "USD: balance 10.00 USD, held 0.00 USD, available 10.00 USD" in text


def test_debit_beyond_balance_and_bad_input_are_refused(cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    business = run(capsys, "business", "create", "--name", "Clinic")["id"]
    assert main(["wallet", "debit", "--business", business, "--amount", "1", "--currency", "INR",
                 "--reason", "x"]) == 1
    assert "insufficient funds" in capsys.readouterr().err
    assert main(["wallet", "credit", "--business", "00000000-0000-0000-0000-000000000000", "--amount", "1",
                 "--currency", "USD", "--reason", "x"]) == 1
    assert "not found" in capsys.readouterr().err
    for bad in (["--amount", "1.5", "--currency", "USD"], ["--amount", "0", "--currency", "USD"],
                ["--amount", "10", "--currency", "EUR"]):
        with pytest.raises(SystemExit):
            main(["wallet", "credit", "--business", business, "--reason", "x", *bad])
    capsys.readouterr()
    assert run(capsys, "wallet", "show", "--business", business)["wallets"] == []


def test_credit_limit_lets_a_wallet_go_that_far_below_zero_and_no_further(
        cli_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    business = run(capsys, "business", "create", "--name", "Clinic")["id"]
    granted = run(capsys, "wallet", "set-credit-limit", "--business", business, "--limit", "500", "--currency", "USD",
                  "--reason", "trusted customer, ticket 7")
    assert granted["previous"] == 0 and granted["wallet"]["creditLimit"] == 500
    run(capsys, "wallet", "debit", "--business", business, "--amount", "300", "--currency", "USD", "--reason", "usage")
    assert main(["wallet", "debit", "--business", business, "--amount", "201", "--currency", "USD",
                 "--reason", "past the limit"]) == 1
    assert "insufficient funds" in capsys.readouterr().err
    withdrawn = run(capsys, "wallet", "set-credit-limit", "--business", business, "--limit", "0", "--currency", "USD",
                    "--reason", "credit withdrawn")
    assert withdrawn["previous"] == 500 and withdrawn["wallet"]["available"] == -300
    assert main(["wallet", "debit", "--business", business, "--amount", "1", "--currency", "USD",
                 "--reason", "no credit left"]) == 1
    capsys.readouterr()
    run(capsys, "wallet", "credit", "--business", business, "--amount", "1000", "--currency", "USD", "--reason", "top-up")
    shown = run(capsys, "wallet", "show", "--business", business)["wallets"][0]
    assert (shown["balance"], shown["available"], shown["creditLimit"]) == (700, 700, 0)
    for bad in (["--limit", "-1"], ["--limit", "1.5"]):
        with pytest.raises(SystemExit):
            main(["wallet", "set-credit-limit", "--business", business, "--currency", "USD", "--reason", "x", *bad])
    capsys.readouterr()
    assert main(["wallet", "set-credit-limit", "--business", "00000000-0000-0000-0000-000000000000", "--limit", "1",
                 "--currency", "USD", "--reason", "x"]) == 1
    assert "not found" in capsys.readouterr().err
