"""The call's system prompt: the phone manners every agent gets."""

from __future__ import annotations

from media.pipeline.prompt import AgentProfile, system_message


def test_the_agent_is_told_not_to_read_out_urls_unless_asked() -> None:
    profile = AgentProfile(system_prompt="You answer for Acme.", greeting="", voice=None, language="en-US",
                           model="m", temperature=0.3)
    content = str(system_message(profile)["content"])
    assert content.startswith("You answer for Acme.")
    assert "Never read out web addresses (URLs), not even those in the reference material, unless the caller" \
           " asks for one." in content
