"""The call and provider config sections: `[calls]` behaviour, `[llm]` bounds, `[deepgram]` and `[openai]` accounts, `[recordings]`."""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping

from config_fields import check, non_negative, positive, secret, url


@dataclasses.dataclass(frozen=True)
class DeepgramConfig:
    api_key: str = secret()
    base_url: str = check(url, "https://api.deepgram.com")
    stt_model: str = "nova-3"
    tts_voice: str = "aura-2-thalia-en"


@dataclasses.dataclass(frozen=True)
class OpenAIConfig:
    api_key: str = secret()
    base_url: str = check(url, "https://api.openai.com/v1")
    model: str = "gpt-4o-mini"
    temperature: float = check(non_negative, 0.4)
    timeout_seconds: float = check(positive, 15.0)


@dataclasses.dataclass(frozen=True)
class LlmProviderConfig:
    """Another OpenAI-compatible server (`[llm.providers.NAME]`), asked for a fallback model written `NAME:MODEL`."""

    base_url: str = check(url, "https://api.openai.com/v1")
    # The environment variable holding its API key (never the key itself: secrets stay out of the file).
    api_key_env: str = ""


@dataclasses.dataclass(frozen=True)
class LlmConfig:
    # On a call, the longest wait for the LLM's first token, and for each next one once it
    # streams; past it the agent apologises (calls.apology_text) and the caller may speak again.
    # In a chat reply, the wait for the first token before a fallback model is asked (`conversations.conversation`).
    first_token_timeout_seconds: float = check(positive, 4.0)
    providers: Mapping[str, LlmProviderConfig] = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({}))


@dataclasses.dataclass(frozen=True)
class CallsConfig:
    # Words (not backchannels such as "uh-huh") the caller must say to confirm a barge-in.
    barge_in_min_words: int = check(positive, 1)
    false_interruption_timeout_seconds: float = check(positive, 1.0)
    mark_interval_ms: int = check(positive, 200)
    goodbye_text: str = "Thank you for calling. Goodbye!"
    transfer_text: str = "Please hold while I transfer you."
    apology_text: str = "Sorry, I had a problem there. Could you say that again?"
    cant_hear_text: str = "Sorry, I can't hear you any more. Please call us again."
    unavailable_text: str = "Sorry, this number is not in service. Goodbye."
    max_call_seconds: int = check(positive, 1800)
    stream_token_ttl_seconds: int = check(positive, 60)
    media_timeout_seconds: float = check(positive, 15.0)
    goodbye_timeout_seconds: float = check(positive, 15.0)
    dtmf_timeout_seconds: float = check(positive, 2.0)
    # Calls in progress across every process on the database beyond which new ones get a busy
    # signal; 0 takes every call. A soft cap: webhooks racing at the limit may each get in.
    max_live_calls: int = check(non_negative, 0)
    # Said while a tool the agent called runs, when it said nothing before calling it (an action's voiceFiller wins).
    tool_filler_text: str = "One moment, please."


def _backend(value: str) -> str:
    if value not in ("local", "s3"):
        raise ValueError("must be local or s3")
    return value


def _presign_ttl(value: int) -> int:
    if not 0 < value <= 300:
        raise ValueError("must be between 1 and 300 seconds")
    return value


@dataclasses.dataclass(frozen=True)
class RecordingsConfig:
    # Where recorded calls' WAV files are written while the call runs (one folder per business),
    # and kept with the local backend; a relative path is from the server's working directory.
    dir: str = ".data/recordings"
    # local: the files stay in `dir`. s3: a job uploads each finished file to the bucket and
    # removes the local copy; the dashboard is then redirected to a presigned URL.
    backend: str = check(_backend, "local")
    s3_endpoint: str = ""  # empty: AWS's own endpoint for the region
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = secret()
    s3_secret_access_key: str = secret()
    # Lifetime of the presigned URL a recording's GET redirects to (at most 300 s).
    url_ttl_seconds: int = check(_presign_ttl, 300)
    # How many expired recordings the daily retention job deletes per run at most.
    retention_batch: int = check(positive, 500)
