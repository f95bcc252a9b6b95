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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config.toml"


class ConfigError(Exception):
    """Start-up configuration is invalid; the message names the key."""


def secret() -> Any:
    """Declare a field that may only come from the environment."""
    return dataclasses.field(default="", metadata={"secret": True})


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value.rstrip("/")


def _path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("must be a path starting with /")
    return value


def _positive(value: int | float) -> int | float:
    if value <= 0:
        raise ValueError("must be positive")
    return value


def _non_negative(value: int | float) -> int | float:
    if value < 0:
        raise ValueError("must not be negative")
    return value


def check(fn: Callable[[Any], Any], default: Any) -> Any:
    """Declare a field whose value is checked (and possibly normalised) by `fn`."""
    return dataclasses.field(default=default, metadata={"check": fn})


_NUMBER_TYPES = ("local", "toll_free", "mobile")
_DEFAULT_NUMBER_PRICES = {
    "US": {"local": 150, "toll_free": 300, "mobile": 200},
    "CA": {"local": 150, "toll_free": 300, "mobile": 200},
    "GB": {"local": 225, "toll_free": 400, "mobile": 300},
}


def _currency_code(value: str) -> str:
    from billing.money import parse_currency

    return parse_currency(value).value


def _number_prices(value: Mapping[str, Mapping[str, int]]) -> Mapping[str, Mapping[str, int]]:
    for country, prices in value.items():
        if len(country) != 2 or not country.isalpha() or not country.isupper():
            raise ValueError(f"{country!r} is not an ISO 3166 alpha-2 country code")
        for number_type, price in prices.items():
            if number_type not in _NUMBER_TYPES:
                raise ValueError(f"{country}.{number_type}: type must be one of {', '.join(_NUMBER_TYPES)}")
            if price < 0:
                raise ValueError(f"{country}.{number_type}: a price can't be negative")
    return value


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = check(_positive, 8080)
    public_url: str = check(_url, "http://127.0.0.1:8080")
    shutdown_timeout_seconds: float = check(_positive, 10.0)
    call_drain_seconds: float = check(_non_negative, 30.0)
    max_body_bytes: int = check(_positive, 1_048_576)
    websocket_heartbeat_seconds: float = check(_positive, 20.0)


@dataclasses.dataclass(frozen=True)
class DatabaseConfig:
    url: str = secret()
    data_dir: str = ".data/postgres"
    pool_min_size: int = check(_positive, 2)
    pool_max_size: int = check(_positive, 10)
    command_timeout_seconds: float = check(_positive, 10.0)


@dataclasses.dataclass(frozen=True)
class AuthConfig:
    jwt_secret: str = secret()
    jwt_audience: str = "authenticated"
    jwt_leeway_seconds: int = check(_non_negative, 30)
    jwt_max_lifetime_seconds: int = check(_positive, 7 * 24 * 3600)


@dataclasses.dataclass(frozen=True)
class TwilioConfig:
    account_sid: str = secret()
    auth_token: str = secret()
    api_base: str = check(_url, "https://api.twilio.com")


@dataclasses.dataclass(frozen=True)
class DeepgramConfig:
    api_key: str = secret()
    base_url: str = check(_url, "https://api.deepgram.com")
    stt_model: str = "nova-3"
    tts_voice: str = "aura-2-thalia-en"


@dataclasses.dataclass(frozen=True)
class OpenAIConfig:
    api_key: str = secret()
    base_url: str = check(_url, "https://api.openai.com/v1")
    model: str = "gpt-4o-mini"
    temperature: float = check(_non_negative, 0.4)
    timeout_seconds: float = check(_positive, 15.0)


@dataclasses.dataclass(frozen=True)
class StripeConfig:
    secret_key: str = secret()
    webhook_secret: str = secret()
    api_base: str = check(_url, "https://api.stripe.com")
    webhook_tolerance_seconds: int = check(_positive, 300)
    min_topup_minor: int = check(_positive, 500)
    max_topup_minor: int = check(_positive, 1_000_000)
    # Where Checkout sends the customer back, appended to server.public_url.
    checkout_success_path: str = check(_path, "/funds?topup=success&session_id={CHECKOUT_SESSION_ID}")
    checkout_cancel_path: str = check(_path, "/funds?topup=cancelled")


@dataclasses.dataclass(frozen=True)
class MessagingConfig:
    sms_reply_budget_seconds: float = check(_positive, 12.0)
    sms_max_reply_chars: int = check(_positive, 1600)
    thread_length: int = check(_positive, 20)
    max_message_chars: int = check(_positive, 2000)
    ip_messages_per_minute: float = check(_positive, 30.0)
    ip_burst: int = check(_positive, 10)
    conversation_messages_per_minute: float = check(_positive, 12.0)
    conversation_burst: int = check(_positive, 5)
    forwarded_for_hops: int = check(_non_negative, 0)
    unavailable_text: str = "Sorry, we can't answer right now. Please try again later."


@dataclasses.dataclass(frozen=True)
class CallsConfig:
    # Words (not backchannels such as "uh-huh") the caller must say to confirm a barge-in.
    barge_in_min_words: int = check(_positive, 1)
    false_interruption_timeout_seconds: float = check(_positive, 1.0)
    mark_interval_ms: int = check(_positive, 200)
    goodbye_text: str = "Thank you for calling. Goodbye!"
    transfer_text: str = "Please hold while I transfer you."
    apology_text: str = "Sorry, I had a problem there. Could you say that again?"
    unavailable_text: str = "Sorry, this number is not in service. Goodbye."
    max_call_seconds: int = check(_positive, 1800)
    stream_token_ttl_seconds: int = check(_positive, 60)
    media_timeout_seconds: float = check(_positive, 15.0)
    goodbye_timeout_seconds: float = check(_positive, 15.0)
    dtmf_timeout_seconds: float = check(_positive, 2.0)
    # Calls in progress across every process on the database beyond which new ones get a busy
    # signal; 0 takes every call. A soft cap: webhooks racing at the limit may each get in.
    max_live_calls: int = check(_non_negative, 0)


@dataclasses.dataclass(frozen=True)
class NumbersConfig:
    """Phone numbers: monthly prices per country and type, and the rent job."""

    currency: str = check(_currency_code, "USD")
    # {"US": {"local": 150, "toll_free": 300, "mobile": 200}, ...}: minor units of `currency` a month.
    monthly_prices: Mapping[str, Mapping[str, int]] = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({
            country: types.MappingProxyType(prices) for country, prices in _DEFAULT_NUMBER_PRICES.items()}),
        metadata={"check": _number_prices})
    rent_grace_days: int = check(_non_negative, 7)
    rent_job_interval_seconds: float = check(_positive, 900.0)


@dataclasses.dataclass(frozen=True)
class BillingConfig:
    """Usage prices (defaults; a business may have overrides) and how calls draw on the wallet."""

    currency: str = check(_currency_code, "USD")
    voice_per_minute_minor: int = check(_non_negative, 12)
    sms_per_reply_minor: int = check(_non_negative, 2)
    chat_per_1k_tokens_minor: int = check(_non_negative, 1)
    call_grant_seconds: int = check(_positive, 60)
    call_minimum_seconds: int = check(_positive, 10)
    call_checkpoint_seconds: int = check(_positive, 15)
    call_end_grace_seconds: int = check(_non_negative, 5)
    hold_lease_seconds: int = check(_positive, 120)
    sweeper_interval_seconds: float = check(_positive, 30.0)
    insufficient_funds_text: str = "Sorry, this line can't take calls right now. Please try again later. Goodbye."


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
    stripe: StripeConfig = StripeConfig()
    messaging: MessagingConfig = MessagingConfig()
    calls: CallsConfig = CallsConfig()
    numbers: NumbersConfig = NumbersConfig()
    billing: BillingConfig = BillingConfig()
    logging: LoggingConfig = LoggingConfig()


# The names the dashboard's deployments already use, mapped to (section, key).
ENVIRONMENT: Mapping[str, tuple[str, str]] = {
    "DATABASE_URL": ("database", "url"),
    "PORT": ("server", "port"),
    "PUBLIC_URL": ("server", "public_url"),
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
    "LOG_LEVEL": ("logging", "level"),
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
        elif origin is tuple and not from_env:
            (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
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
