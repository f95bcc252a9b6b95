"""The `[customers]` section: its secret only from the environment, and `make run` generating one."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_server.cli.common import with_dev_secrets
from agent_server.config import ConfigError, settings_from


def test_the_portal_secret_comes_from_the_environment_only() -> None:
    assert settings_from({}, {"CUSTOMER_JWT_SECRET": "s" * 40}).customers.jwt_secret == "s" * 40
    with pytest.raises(ConfigError, match="customers.jwt_secret is a secret"):
        settings_from({"customers": {"jwt_secret": "in-the-file"}}, {})


def test_make_run_generates_a_portal_secret_that_survives_a_restart(tmp_path: Path) -> None:
    base = settings_from({"database": {"data_dir": str(tmp_path / "postgres")}}, {})
    first = with_dev_secrets(base).customers.jwt_secret
    assert len(first) >= 40
    assert with_dev_secrets(base).customers.jwt_secret == first
    assert first != with_dev_secrets(base).auth.jwt_secret, "never the dashboard's secret"


def test_a_deployment_with_its_own_database_gets_no_generated_secret() -> None:
    base = settings_from({}, {"DATABASE_URL": "postgresql://db.example/agent"})
    assert with_dev_secrets(base).customers.jwt_secret == ""
