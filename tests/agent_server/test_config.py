"""Start-up configuration: defaults, environment overlay, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_server.config import ConfigError, load_settings

ROOT_CONFIG = Path(__file__).resolve().parents[2] / "config.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_committed_config_loads_with_safe_defaults() -> None:
    settings = load_settings(env={}, path=ROOT_CONFIG)
    assert settings.server.port == 8080
    assert settings.database.url == ""
    assert settings.stripe.secret_key == ""


def test_environment_overrides_file_and_supplies_secrets() -> None:
    settings = load_settings(env={"PORT": "9000", "PUBLIC_URL": "https://x.example/", "STRIPE_SECRET_KEY": "sk_test",
                                  "OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}, path=ROOT_CONFIG)
    assert settings.server.port == 9000
    assert settings.server.public_url == "https://x.example"
    assert settings.stripe.secret_key == "sk_test"
    assert settings.openai.base_url == "http://127.0.0.1:1/v1"


def test_agent_server_config_names_another_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 7001\n")
    assert load_settings(env={"AGENT_SERVER_CONFIG": str(path)}).server.port == 7001


@pytest.mark.parametrize(("text", "env", "named"), [
    ("[server]\nprot = 1\n", {}, "server.prot"),
    ("[nope]\n", {}, "[nope]"),
    ("[server]\nport = \"x\"\n", {}, "server.port"),
    ("[server]\nport = -5\n", {}, "server.port"),
    ("[server]\npublic_url = \"ftp://x\"\n", {}, "server.public_url"),
    ("", {"PORT": "eighty"}, "server.port"),
    ("[stripe]\nsecret_key = \"sk_live\"\n", {}, "stripe.secret_key"),
    ("[server]\nport = true\n", {}, "server.port"),
])
def test_invalid_config_stops_startup_naming_the_key(tmp_path: Path, text: str, env: dict[str, str],
                                                      named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        load_settings(env=env, path=write(tmp_path, text))


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(env={}, path=tmp_path / "absent.toml")


def test_cli_reports_config_error_with_exit_code_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from agent_server.cli import main

    monkeypatch.setenv("AGENT_SERVER_CONFIG", str(write(tmp_path, "[server]\nbogus = 1\n")))
    assert main(["migrate"]) == 2
    assert "server.bogus" in capsys.readouterr().err
