"""The one resolver of what each channel uses: its overrides over the agent's settings over the defaults."""

from __future__ import annotations

import msgspec
import pytest

from agent_server.agent_config import (
    DEFAULT_NOTICE,
    AgentConfig,
    Channels,
    Faq,
    Recording,
    TextChannel,
    VoiceChannel,
    WidgetChannel,
    WidgetTheme,
    channels_json,
    config_from_json,
    config_json,
    resolve,
)

BASE = AgentConfig(name="Desk", system_prompt="Be kind.", greeting="Hello!", language="en-US", model="gpt-4.1",
                   temperature=0.4, voice="aura-2-thalia-en",
                   faq=[Faq(question=f"Q{i}?", answer=f"A{i}") for i in range(8)])


def test_a_channel_with_no_overrides_inherits_the_agents_settings_and_the_defaults() -> None:
    effective = resolve(BASE)
    assert (effective.voice.voice, effective.voice.greeting, effective.voice.model) == (
        "aura-2-thalia-en", "Hello!", "gpt-4.1")
    assert effective.voice.recording.enabled is False and effective.voice.recording.notice_text == DEFAULT_NOTICE
    assert effective.voice.recording.retention_days == 90
    for text in (effective.sms, effective.whatsapp):
        assert (text.enabled, text.greeting, text.language, text.model, text.temperature) == (
            True, "Hello!", "en-US", "gpt-4.1", 0.4)
    assert effective.widget.faq_buttons == [f"Q{i}?" for i in range(6)]  # the first six FAQ questions
    assert (effective.widget.formatting, effective.widget.theme.position) == ("plain", "bottom-right")
    assert not effective.widget.voice_enabled and not effective.widget.messenger_enabled


def test_each_channel_override_wins_only_for_its_own_field_and_channel() -> None:
    config = msgspec.structs.replace(BASE, channels=Channels(
        voice=VoiceChannel(voice="aura-2-orion-en", temperature=0.0,
                           recording=Recording(enabled=True, retention_days=30)),
        sms=TextChannel(model="gpt-4.1-mini", enabled=False),
        widget=WidgetChannel(greeting="Hi there", formatting="markdown", faq_buttons=["Parking?"],
                             theme=WidgetTheme(primary_color="#112233", position="top-left"))))
    effective = resolve(config)
    assert (effective.voice.voice, effective.voice.temperature, effective.voice.greeting) == (
        "aura-2-orion-en", 0.0, "Hello!")  # 0.0 is an override, not "unset"
    assert effective.voice.recording.enabled and effective.voice.recording.retention_days == 30
    assert effective.voice.recording.notice_text == DEFAULT_NOTICE
    assert (effective.sms.model, effective.sms.enabled, effective.sms.temperature) == ("gpt-4.1-mini", False, 0.4)
    assert (effective.whatsapp.model, effective.whatsapp.enabled) == ("gpt-4.1", True)
    assert (effective.widget.greeting, effective.widget.formatting, effective.widget.faq_buttons) == (
        "Hi there", "markdown", ["Parking?"])
    assert (effective.widget.theme.primary_color, effective.widget.theme.position,
            effective.widget.theme.text_color) == ("#112233", "top-left", "#ffffff")


def test_the_older_widget_theme_sits_under_the_widget_channels_theme() -> None:
    effective = resolve(BASE, {"primaryColor": "#000000", "position": "right", "font": 3})
    assert effective.widget.theme.primary_color == "#000000"
    assert effective.widget.theme.position == "bottom-right"  # the older "right" is not a position any more


def test_changing_the_agents_model_moves_every_channel_that_did_not_pick_its_own() -> None:
    config = msgspec.structs.replace(BASE, model="gpt-5", channels=Channels(whatsapp=TextChannel(model="local")))
    effective = resolve(config)
    assert (effective.voice.model, effective.sms.model, effective.whatsapp.model) == ("gpt-5", "gpt-5", "local")


def test_a_stored_configuration_keeps_only_overrides_and_reads_back_the_same() -> None:
    channels = Channels(voice=VoiceChannel(recording=Recording(enabled=True)), sms=TextChannel(greeting="Yo"))
    assert channels_json(channels) == {"voice": {"recording": {"enabled": True}}, "sms": {"greeting": "Yo"}}
    config = msgspec.structs.replace(BASE, channels=channels)
    assert config_from_json(msgspec.json.decode(msgspec.json.encode(config_json(config)))) == config


@pytest.mark.parametrize("raw", [
    {"voice": {"speed": 2}}, {"widget": {"theme": {"position": "middle"}}}, {"sms": {"temperature": 2.5}},
    {"widget": {"formatting": "html"}}, {"fax": {}},
])
def test_unknown_or_out_of_range_channel_fields_are_refused(raw: dict[str, object]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(raw, Channels)
