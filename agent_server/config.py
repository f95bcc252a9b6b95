"""Settings: `config.toml` plus environment, validated once at start-up into frozen dataclasses.

Secrets come only from the environment; a secret written in the TOML file is refused so it
never lands in version control. Every unknown key or invalid value stops start-up with a
message naming the key, because a typo in a price or a limit must not silently fall back.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent_server.widget_access import origin_of
from automations.config import ActionsConfig
from billing.config import BillingConfig, StripeConfig
from billing.cost_config import ProviderCostsConfig
from config_fields import check, non_negative, positive, secret, url
from conversations.config import MessagingConfig
from customers.config import CustomersConfig
from jobs.config import JobsConfig
from knowledge.config import KnowledgeConfig
from llm_usage.token_config import LimitsConfig
from llm_usage.usage_config import UsageConfig
from mail.config import MailConfig
from messaging.config import SmsConfig
from media.config import CallsConfig, DeepgramConfig, LlmConfig, OpenAIConfig, RecordingsConfig
from outcomes.config import OutcomesConfig
from phone_numbers.config import NumbersConfig
from storage.config import DatabaseConfig

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config.toml"


class ConfigError(Exception):
    """Start-up configuration is invalid; the message names the key."""


def cors_origins(values: tuple[str, ...]) -> tuple[str, ...]:
    """Each origin as browsers send it (`scheme://host[:port]`); `"*"` only alone.

    A path, a query or a typo would never match a browser's `Origin` and silently leave the
    dashboard blocked, so they stop start-up instead.
    """
    if "*" in values:
        if len(values) > 1:
            raise ValueError('"*" allows every origin: list it alone')
        return values
    normalised = []
    for value in values:
        parts = urlsplit(value.strip())
        origin = origin_of(value)
        if not origin or parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
            raise ValueError(f"{value!r} is not an origin (scheme://host[:port], no path)")
        normalised.append(origin)
    return tuple(dict.fromkeys(normalised))


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = check(positive, 8080)
    public_url: str = check(url, "http://127.0.0.1:8080")
    shutdown_timeout_seconds: float = check(positive, 10.0)
    call_drain_seconds: float = check(non_negative, 30.0)
    max_body_bytes: int = check(positive, 1_048_576)
    websocket_heartbeat_seconds: float = check(positive, 20.0)
    cors_origins: tuple[str, ...] = check(cors_origins, ())


@dataclasses.dataclass(frozen=True)
class AuthConfig:
    jwt_secret: str = secret()
    jwt_audience: str = "authenticated"
    jwt_leeway_seconds: int = check(non_negative, 30)
    jwt_max_lifetime_seconds: int = check(positive, 7 * 24 * 3600)


@dataclasses.dataclass(frozen=True)
class TwilioConfig:
    account_sid: str = secret()
    auth_token: str = secret()
    api_base: str = check(url, "https://api.twilio.com")


@dataclasses.dataclass(frozen=True)
class LoggingConfig:
    level: str = "info"


@dataclasses.dataclass(frozen=True)
class Settings:
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    auth: AuthConfig = AuthConfig()
    twilio: TwilioConfig = TwilioConfig()
    deepgram: DeepgramConfig = DeepgramConfig()
    openai: OpenAIConfig = OpenAIConfig()
    llm: LlmConfig = LlmConfig()
    stripe: StripeConfig = StripeConfig()
    messaging: MessagingConfig = MessagingConfig()
    sms: SmsConfig = SmsConfig()
    calls: CallsConfig = CallsConfig()
    recordings: RecordingsConfig = RecordingsConfig()
    numbers: NumbersConfig = NumbersConfig()
    billing: BillingConfig = BillingConfig()
    provider_costs: ProviderCostsConfig = ProviderCostsConfig()
    jobs: JobsConfig = JobsConfig()
    mail: MailConfig = MailConfig()
    outcomes: OutcomesConfig = OutcomesConfig()
    knowledge: KnowledgeConfig = KnowledgeConfig()
    customers: CustomersConfig = CustomersConfig()
    actions: ActionsConfig = ActionsConfig()
    limits: LimitsConfig = LimitsConfig()
    usage: UsageConfig = UsageConfig()
    logging: LoggingConfig = LoggingConfig()


# The names the dashboard's deployments already use, mapped to (section, key).
ENVIRONMENT: Mapping[str, tuple[str, str]] = {
    "DATABASE_URL": ("database", "url"),
    "PORT": ("server", "port"),
    "PUBLIC_URL": ("server", "public_url"),
    "CORS_ORIGINS": ("server", "cors_origins"),
    "SUPABASE_JWT_SECRET": ("auth", "jwt_secret"),
    "TWILIO_ACCOUNT_SID": ("twilio", "account_sid"),
    "TWILIO_AUTH_TOKEN": ("twilio", "auth_token"),
    "TWILIO_API_BASE": ("twilio", "api_base"),
    "DEEPGRAM_API_KEY": ("deepgram", "api_key"),
    "DEEPGRAM_BASE_URL": ("deepgram", "base_url"),
    "OPENAI_API_KEY": ("openai", "api_key"),
    "OPENAI_BASE_URL": ("openai", "base_url"),
    "STRIPE_SECRET_KEY": ("stripe", "secret_key"),
    "STRIPE_WEBHOOK_SECRET": ("stripe", "webhook_secret"),
    "STRIPE_API_BASE": ("stripe", "api_base"),
    "SMTP_URL": ("mail", "smtp_url"),
    "MAIL_FROM": ("mail", "from_address"),
    "CONTACT_INBOX": ("outcomes", "contact_inbox"),
    "CUSTOMER_JWT_SECRET": ("customers", "jwt_secret"),
    "CUSTOMER_PORTAL_URL": ("customers", "portal_url"),
    "CUSTOMER_INBOUND_DOMAIN": ("customers", "inbound_domain"),
    "LOG_LEVEL": ("logging", "level"),
    "RECORDINGS_DIR": ("recordings", "dir"),
    "RECORDINGS_S3_ACCESS_KEY_ID": ("recordings", "s3_access_key_id"),
    "RECORDINGS_S3_SECRET_ACCESS_KEY": ("recordings", "s3_secret_access_key"),
}


def load_settings(
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Settings:
    """Read the TOML file (default `config.toml`, or `AGENT_SERVER_CONFIG`) and overlay the environment.

    Raises:
        ConfigError: naming the offending key.
    """
    env = os.environ if env is None else env
    if path is None:
        path = Path(env["AGENT_SERVER_CONFIG"]) if env.get("AGENT_SERVER_CONFIG") else DEFAULT_CONFIG_PATH
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return settings_from(raw, env)


def settings_from(raw: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """Build Settings from an already parsed TOML mapping and an environment."""
    hints = typing.get_type_hints(Settings)
    sections: dict[str, Any] = {}
    for name in raw:
        if name not in hints:
            raise ConfigError(f"unknown config section [{name}]")
    for field in dataclasses.fields(Settings):
        table = raw.get(field.name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"[{field.name}] must be a table")
        overlay = {key: value for var, (section, key) in ENVIRONMENT.items()
                   if section == field.name and (value := env.get(var)) not in (None, "")}
        sections[field.name] = _build_section(field.name, hints[field.name], table, overlay)
    return Settings(**sections)


def _build_section(section: str, cls: type, table: Mapping[str, Any], overlay: Mapping[str, str]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(f"unknown config key {section}.{key}")
        if fields[key].metadata.get("secret"):
            raise ConfigError(f"{section}.{key} is a secret: set it in the environment, not in the config file")
        values[key] = _coerce(f"{section}.{key}", hints[key], value, from_env=False)
    for key, value in overlay.items():
        values[key] = _coerce(f"{section}.{key}", hints[key], value, from_env=True)
    for key, value in list(values.items()):
        checker = fields[key].metadata.get("check")
        if checker is not None:
            try:
                values[key] = checker(value)
            except ValueError as exc:
                raise ConfigError(f"invalid value for {section}.{key}: {exc}") from exc
    return cls(**values)


def _coerce(name: str, hint: Any, value: Any, *, from_env: bool) -> Any:
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            if from_env:
                return _env_bool(value)
            if isinstance(value, bool):
                return value
        elif hint is int:
            if from_env:
                return int(value)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif hint is float:
            if from_env:
                return float(value)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
        elif hint is str:
            if isinstance(value, str):
                return value
        elif dataclasses.is_dataclass(hint) and isinstance(hint, type) and not from_env:
            # A sub-table (`[knowledge.embeddings]`): the same rules, keys named by their full path.
            if isinstance(value, dict):
                return _build_section(name, hint, value, {})
        elif origin is tuple:
            (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
            if from_env:  # comma-separated, as CORS_ORIGINS=https://a.example,https://b.example
                return tuple(_coerce(name, item, v.strip(), from_env=True) for v in value.split(",") if v.strip())
            if isinstance(value, list):
                return tuple(_coerce(name, item, v, from_env=False) for v in value)
        elif origin in (dict, Mapping) and not from_env:
            key_t, val_t = typing.get_args(hint)
            if isinstance(value, dict):
                return types.MappingProxyType({
                    _coerce(name, key_t, k, from_env=False): _coerce(f"{name}.{k}", val_t, v, from_env=False)
                    for k, v in value.items()
                })
    except ValueError as exc:
        raise ConfigError(f"invalid value for {name}: {value!r}") from exc
    raise ConfigError(f"invalid value for {name}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def _env_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)
