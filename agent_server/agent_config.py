"""An agent's editable configuration and its per-channel settings, with the one resolver of what each channel uses.

A channel stores only what it overrides: a field left out (or null) inherits the agent's own
value, so changing the agent's model changes every channel that did not pick its own. The
same Structs are the API's wire shape, what `agents.channels` holds and what each
`agent_versions` row keeps, so a restored version reads back exactly as it was written.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

Text = Annotated[str, msgspec.Meta(max_length=1_000)]
Short = Annotated[str, msgspec.Meta(max_length=100)]
Language = Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
Temperature = Annotated[float, msgspec.Meta(ge=0, le=2)]
Color = Annotated[str, msgspec.Meta(pattern=r"^#[0-9A-Fa-f]{6}$", description="a #rrggbb colour")]
Origin = Annotated[str, msgspec.Meta(pattern=r"^https?://", max_length=300,
                                     description="an http(s) origin allowed to embed the widget")]
Position = Literal["bottom-right", "bottom-left", "top-right", "top-left", "center"]

DEFAULT_NOTICE = "This call is recorded."
DEFAULT_RETENTION_DAYS = 90
DEFAULT_PLACEHOLDER = "Type your message…"
DEFAULT_THEME = {"primaryColor": "#2563eb", "secondaryColor": "#f3f4f6", "textColor": "#ffffff",
                 "position": "bottom-right"}
FAQ_BUTTONS = 6


class _Shape(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """camelCase on the wire, and a field nobody declared is a 422 naming it, not silently dropped."""


class Faq(_Shape):
    """A question the agent answers word for word, without asking the model."""

    question: Annotated[str, msgspec.Meta(max_length=1_000)]
    answer: Annotated[str, msgspec.Meta(max_length=5_000)]

    def __post_init__(self) -> None:
        self.question, self.answer = self.question.strip(), self.answer.strip()
        if not (self.question and self.answer):
            raise ValueError("a FAQ entry needs non-empty question and answer")


class Recording(_Shape):
    enabled: bool | None = None
    notice_text: Text | None = None
    retention_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None


class VoiceChannel(_Shape):
    voice: Short | None = None
    greeting: Text | None = None
    language: Language | None = None
    model: Short | None = None
    temperature: Temperature | None = None
    recording: Recording | None = None


class TextChannel(_Shape):
    """SMS or WhatsApp."""

    enabled: bool | None = None
    greeting: Text | None = None
    language: Language | None = None
    model: Short | None = None
    temperature: Temperature | None = None


class WidgetTheme(_Shape):
    primary_color: Color | None = None
    secondary_color: Color | None = None
    text_color: Color | None = None
    position: Position | None = None


class WidgetChannel(_Shape):
    greeting: Text | None = None
    placeholder: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    formatting: Literal["plain", "markdown"] | None = None
    theme: WidgetTheme | None = None
    faq_buttons: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=200)]],
                           msgspec.Meta(max_length=FAQ_BUTTONS)] | None = None
    voice_enabled: bool | None = None
    messenger_enabled: bool | None = None


class Channels(_Shape):
    """What each channel overrides; a channel left out inherits everything."""

    voice: VoiceChannel | None = None
    sms: TextChannel | None = None
    whatsapp: TextChannel | None = None
    widget: WidgetChannel | None = None


class AgentConfig(_Shape):
    """Everything an edit can change: what one `agent_versions` row keeps."""

    name: str
    system_prompt: str = ""
    greeting: str = ""
    language: str = "en-US"
    model: str = ""
    temperature: float | None = None
    voice: str = ""
    faq: list[Faq] = []
    transfer_number: str | None = None
    allowed_origins: list[str] = []
    active: bool = True
    channels: Channels = msgspec.field(default_factory=Channels)
    # The built-in `open_ticket` handoff tool on every channel (issue 25); a version from before it reads as on.
    handoff_tickets: bool = True


class EffectiveRecording(msgspec.Struct, rename="camel", kw_only=True):
    enabled: bool
    notice_text: str
    retention_days: int


class EffectiveVoice(msgspec.Struct, rename="camel", kw_only=True):
    voice: str
    greeting: str
    language: str
    model: str
    temperature: float | None
    recording: EffectiveRecording


class EffectiveText(msgspec.Struct, rename="camel", kw_only=True):
    enabled: bool
    greeting: str
    language: str
    model: str
    temperature: float | None


class EffectiveTheme(msgspec.Struct, rename="camel", kw_only=True):
    primary_color: str
    secondary_color: str
    text_color: str
    position: str


class EffectiveWidget(msgspec.Struct, rename="camel", kw_only=True):
    greeting: str
    placeholder: str
    formatting: str
    theme: EffectiveTheme
    faq_buttons: list[str]
    voice_enabled: bool
    messenger_enabled: bool


class Effective(msgspec.Struct, rename="camel", kw_only=True):
    """What each channel actually uses: its overrides over the agent's own settings over the defaults."""

    voice: EffectiveVoice
    sms: EffectiveText
    whatsapp: EffectiveText
    widget: EffectiveWidget


def _pick(override: Any, inherited: Any) -> Any:
    return inherited if override is None else override


def _text(channel: TextChannel | None, config: AgentConfig) -> EffectiveText:
    """SMS and WhatsApp answer by default, as every agent's numbers always have."""
    c = channel or TextChannel()
    return EffectiveText(enabled=_pick(c.enabled, True), greeting=_pick(c.greeting, config.greeting),
                         language=_pick(c.language, config.language), model=_pick(c.model, config.model),
                         temperature=_pick(c.temperature, config.temperature))


def _theme(theme: WidgetTheme | None, legacy: dict[str, Any]) -> EffectiveTheme:
    """The channel's colours over the agent's older `widget_theme` (strings only) over the defaults."""
    t = theme or WidgetTheme()
    base = {**DEFAULT_THEME, **{k: v for k, v in legacy.items() if k in DEFAULT_THEME and isinstance(v, str)}}
    if base["position"] not in Position.__args__:  # type: ignore[attr-defined]
        base["position"] = DEFAULT_THEME["position"]  # the older "right"/"left" spelling
    return EffectiveTheme(primary_color=_pick(t.primary_color, base["primaryColor"]),
                          secondary_color=_pick(t.secondary_color, base["secondaryColor"]),
                          text_color=_pick(t.text_color, base["textColor"]),
                          position=_pick(t.position, base["position"]))


def resolve(config: AgentConfig, widget_theme: dict[str, Any] | None = None) -> Effective:
    """The settings each channel uses; pure, so every channel (and the dashboard's preview) agrees.

    Args:
        config: the agent's configuration with its channel overrides.
        widget_theme: the agent's older `widget_theme` column, under the widget channel's theme.
    """
    channels = config.channels
    voice = channels.voice or VoiceChannel()
    rec = voice.recording or Recording()
    widget = channels.widget or WidgetChannel()
    return Effective(
        voice=EffectiveVoice(
            voice=_pick(voice.voice, config.voice), greeting=_pick(voice.greeting, config.greeting),
            language=_pick(voice.language, config.language), model=_pick(voice.model, config.model),
            temperature=_pick(voice.temperature, config.temperature),
            recording=EffectiveRecording(enabled=_pick(rec.enabled, False),
                                         notice_text=_pick(rec.notice_text, DEFAULT_NOTICE),
                                         retention_days=_pick(rec.retention_days, DEFAULT_RETENTION_DAYS))),
        sms=_text(channels.sms, config),
        whatsapp=_text(channels.whatsapp, config),
        widget=EffectiveWidget(
            greeting=_pick(widget.greeting, config.greeting),
            placeholder=_pick(widget.placeholder, DEFAULT_PLACEHOLDER),
            formatting=_pick(widget.formatting, "plain"),
            theme=_theme(widget.theme, widget_theme or {}),
            faq_buttons=_pick(widget.faq_buttons, [e.question for e in config.faq[:FAQ_BUTTONS]]),
            voice_enabled=_pick(widget.voice_enabled, False),
            messenger_enabled=_pick(widget.messenger_enabled, False)))


def config_json(config: AgentConfig) -> dict[str, Any]:
    """The configuration as stored (jsonb): camelCase, channels without their inherited (null) fields."""
    out: dict[str, Any] = msgspec.to_builtins(config)
    out["channels"] = channels_json(config.channels)
    return out


def channels_json(channels: Channels) -> dict[str, Any]:
    """Only the overrides: a null field means "inherit", so it is left out."""
    def prune(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: prune(v) for k, v in value.items() if v is not None}
        return value
    pruned: dict[str, Any] = prune(msgspec.to_builtins(channels))
    return pruned


def config_from_json(raw: dict[str, Any]) -> AgentConfig:
    """A stored configuration read back (a version, or the agent's own channels)."""
    return msgspec.convert(raw, AgentConfig)


def channels_from_json(raw: dict[str, Any]) -> Channels:
    return msgspec.convert(raw, Channels)
