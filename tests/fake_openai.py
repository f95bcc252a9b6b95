"""A local OpenAI-compatible server speaking the real wire protocol: SSE chat completions, PCM speech, embeddings.

Replies are scripted (text and/or tool calls, or an error status); streaming shape, delays
and compatibility quirks are options. Records every request and whether the client hung
up mid-stream (so tests can prove cancellation closes the HTTP stream). Usable from tests
and bench scripts::

    base_url, state, close = await start_fake_openai(first_token_delay=0.2)
    state.script(ScriptedReply(text="We open at nine."))
    client = AsyncOpenAI(api_key="test-key", base_url=base_url)   # base_url ends in /v1
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from aiohttp import web

from tests.fake_http import serve_locally, stream_body

_TOKEN = re.compile(r"\s*\S+")
_WORD = re.compile(r"\w+")
# Words a real embedding model all but ignores; counted, they make every question near every chunk.
_FUNCTION_WORDS = frozenset(
    "a an the and or of to in on for with at by from is are was were be been do does did i my our we you your me"
    " it its can how what when where which who why will would should could this that these those there here if"
    " not no have has had as about into".split())


def stream_tokens(text: str) -> list[str]:
    """The content deltas the fake streams for ``text``: each word with the whitespace before it."""
    return _TOKEN.findall(text)


@dataclass(frozen=True)
class ScriptedToolCall:
    """A tool call the fake model makes; ``arguments`` may be a raw (even invalid) JSON string."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class ScriptedReply:
    """One assistant turn, or an error when ``status`` is set."""

    text: str = ""
    tool_calls: Sequence[ScriptedToolCall] = ()
    status: int | None = None
    error_message: str = "scripted failure"
    head_delay: float = 0.0
    """Seconds before the response head (or the error) is sent: a server slow to answer at all."""
    stall_after_deltas: int | None = None
    """Send nothing after this many content/tool deltas, keeping the stream open until the client
    hangs up (0: the role chunk, then no token)."""
    cut_after_deltas: int | None = None
    """Abort the TCP connection after this many deltas of this reply (None: the options' ``cut_after_deltas``)."""
    json: Any = None
    """The document answered to a request with a ``json_schema`` response format (None: an example
    built from the schema); ``text`` is answered instead when the fake ignores response formats."""


@dataclass
class FakeOpenAiOptions:
    """Behaviour knobs; delays are wall-clock seconds."""

    api_key: str = "test-key"
    first_token_delay: float = 0.0
    token_delay: float = 0.0
    send_usage: bool = True
    """Honour ``stream_options.include_usage``; False imitates servers that never report usage."""
    cached_tokens: int = 0
    """Prompt tokens each answer reports as served from the prompt cache (at most the prompt's)."""
    cached_tokens_field: str = "prompt_tokens_details"
    """Where they are reported: OpenAI's ``prompt_tokens_details.cached_tokens`` or DeepSeek's
    ``prompt_cache_hit_tokens``."""
    tool_call_ids: bool = True
    """False imitates servers that omit tool-call ids."""
    args_in_one_delta: bool = False
    """True imitates servers that send a tool call's whole arguments in one delta."""
    cut_after_deltas: int | None = None
    """Abort the TCP connection after this many content/tool deltas (a stream broken midway)."""
    ignore_response_format: bool = False
    """True imitates servers that ignore ``response_format`` and answer the scripted prose ``text``."""
    speech_first_byte_delay: float = 0.0
    speech_chunk_delay: float = 0.0
    speech_samples_per_char: int = 1200
    speech_chunk_bytes: int = 4801
    """Odd on purpose: real networks split 16-bit samples across chunks."""
    embedding_dimensions: int = 256
    """Length of the hashed bag-of-words vectors (a request's ``dimensions`` wins)."""
    embeddings_status: int | None = None
    """Answer every embeddings request with this error status (a failing server)."""
    embeddings_delay: float = 0.0
    """Seconds before an embeddings answer (a slow server)."""
    models: tuple[str, ...] | None = None
    """When set, a chat request for any other model is a 404 `model_not_found`, as OpenAI answers it."""


@dataclass
class FakeOpenAiState:
    """Script, recordings and counters."""

    options: FakeOpenAiOptions
    replies: deque[ScriptedReply] = field(default_factory=deque)
    default_reply: ScriptedReply = field(default_factory=lambda: ScriptedReply(text="Sure, I can help with that."))
    responder: Callable[[dict[str, Any]], ScriptedReply] | None = None
    """When set, used instead of the queue for every chat request (bench scripts)."""
    chat_requests: list[dict[str, Any]] = field(default_factory=list)
    speech_requests: list[dict[str, Any]] = field(default_factory=list)
    embedding_requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    chat_peer_ports: list[int] = field(default_factory=list)
    """The client's source port per chat request: a repeated port is a reused connection."""
    token_times: list[float] = field(default_factory=list)
    """``time.monotonic()`` as each content delta was written, over all chat requests."""
    streams_completed: int = 0
    streams_aborted: int = 0

    def script(self, *replies: ScriptedReply | str) -> None:
        """Queue replies for the next chat requests (a str is a plain text reply)."""
        self.replies.extend(ScriptedReply(text=r) if isinstance(r, str) else r for r in replies)

    def next_reply(self, body: dict[str, Any]) -> ScriptedReply:
        if self.responder is not None:
            return self.responder(body)
        return self.replies.popleft() if self.replies else self.default_reply


def _chunk(cid: str, model: str, delta: dict[str, Any] | None, finish: str | None = None,
           usage: dict[str, Any] | None = None) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    body = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": choices, "usage": usage}
    return b"data: " + orjson.dumps(body) + b"\n\n"


def _tool_deltas(calls: Sequence[ScriptedToolCall], options: FakeOpenAiOptions) -> Iterator[dict[str, Any]]:
    for index, call in enumerate(calls):
        args = call.arguments if isinstance(call.arguments, str) else orjson.dumps(call.arguments).decode()
        head: dict[str, Any] = {"index": index, "type": "function", "function": {"name": call.name, "arguments": ""}}
        if options.tool_call_ids:
            head["id"] = call.id or f"call_{index}_fake"
        if options.args_in_one_delta:
            head["function"]["arguments"] = args
            yield {"tool_calls": [head]}
            continue
        yield {"tool_calls": [head]}
        for i in range(0, len(args), 7):
            yield {"tool_calls": [{"index": index, "function": {"arguments": args[i : i + 7]}}]}


class FakeOpenAi:
    """The fake server; construct with :class:`FakeOpenAiOptions` fields as keywords."""

    def __init__(self, **options: Any) -> None:
        self.state = FakeOpenAiState(options=FakeOpenAiOptions(**options))
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    def _auth_error(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        self.state.authorizations.append(header)
        if header == f"Bearer {self.state.options.api_key}":
            return None
        return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        body = await request.json()
        self.state.chat_requests.append(body)
        known = self.state.options.models
        if known is not None and body.get("model") not in known:
            return _error(404, f"The model `{body.get('model')}` does not exist or you do not have access to it.",
                          "invalid_request_error", "model_not_found")
        peer = request.transport.get_extra_info("peername") if request.transport is not None else None
        self.state.chat_peer_ports.append(int(peer[1]) if peer else 0)
        reply = self.state.next_reply(body)
        if reply.head_delay and await _hung_up_within(request, reply.head_delay):
            self.state.streams_aborted += 1
            return web.Response(status=499)
        if reply.status is not None:
            return _error(reply.status, reply.error_message, "server_error", None)
        if not body.get("stream"):
            return await self._whole(body, reply)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        try:
            await self._stream(request, resp, body, reply)
        except ConnectionError:
            self.state.streams_aborted += 1
            return resp
        self.state.streams_completed += 1
        return resp

    async def _stream(self, request: web.Request, resp: web.StreamResponse, body: dict[str, Any],
                      reply: ScriptedReply) -> None:
        options = self.state.options
        cid, model = f"chatcmpl-{len(self.state.chat_requests)}", str(body.get("model", "fake"))
        # Each token is due at a fixed time from the request (first_token_delay + i * token_delay): sleeping
        # the interval after each write would add every sleep's lateness up (about 1 ms per token on uvloop).
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(options.first_token_delay)
        await resp.write(_chunk(cid, model, {"role": "assistant", "content": ""}))
        tokens = stream_tokens(reply.text)
        deltas = [{"content": t} for t in tokens] + list(_tool_deltas(reply.tool_calls, options))
        cut = options.cut_after_deltas if reply.cut_after_deltas is None else reply.cut_after_deltas
        for i, delta in enumerate(deltas):
            if i == reply.stall_after_deltas:
                await _hung_up_within(request, 60.0)
                raise ConnectionResetError("the client left a stalled stream")
            if i == cut and request.transport is not None:
                await resp.drain()
                request.transport.abort()
                raise ConnectionResetError("scripted cut")
            if i and options.token_delay:
                await asyncio.sleep(start + options.first_token_delay + i * options.token_delay - loop.time())
            await resp.write(_chunk(cid, model, delta))
            if "content" in delta:
                self.state.token_times.append(time.monotonic())
        await resp.write(_chunk(cid, model, {}, "tool_calls" if reply.tool_calls else "stop"))
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if wants_usage and options.send_usage:
            prompt = sum(len(str(m.get("content") or "").split()) for m in body.get("messages", []))
            await resp.write(_chunk(cid, model, None, usage=_usage(prompt, len(deltas), options)))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()

    async def _whole(self, body: dict[str, Any], reply: ScriptedReply) -> web.Response:
        """A non-streamed ``chat.completion``, honouring a ``json_schema`` response format unless told not to."""
        await asyncio.sleep(self.state.options.first_token_delay)
        fmt = body.get("response_format") or {}
        content = reply.text
        if fmt.get("type") == "json_schema" and not self.state.options.ignore_response_format:
            schema = (fmt.get("json_schema") or {}).get("schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                return _error(400, "response_format.json_schema.schema must be an object schema",
                              "invalid_request_error", None)
            document = reply.json if reply.json is not None else schema_example(schema, schema.get("$defs", {}))
            content = orjson.dumps(document).decode()
        prompt = sum(len(str(m.get("content") or "").split()) for m in body.get("messages", []))
        completion = len(stream_tokens(content))
        self.state.streams_completed += 1
        return web.json_response({
            "id": f"chatcmpl-{len(self.state.chat_requests)}", "object": "chat.completion",
            "created": int(time.time()), "model": str(body.get("model", "fake")),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "logprobs": None,
                         "finish_reason": "stop"}],
            "usage": _usage(prompt, completion, self.state.options)})

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        body = await request.json()
        self.state.speech_requests.append(body)
        options = self.state.options
        text = body.get("input")
        if body.get("response_format") != "pcm" or not isinstance(text, str) or not text:
            return _error(400, "the fake supports response_format=pcm with non-empty input",
                          "invalid_request_error", None)
        n = len(text) * options.speech_samples_per_char
        pcm = (6000 * np.sin(2 * math.pi * 300.0 * np.arange(n) / 24000)).astype("<i2").tobytes()
        return await stream_body(request, pcm, content_type="application/octet-stream",
                                 first_byte_delay=options.speech_first_byte_delay,
                                 chunk_bytes=options.speech_chunk_bytes, chunk_delay=options.speech_chunk_delay)

    async def _embeddings(self, request: web.Request) -> web.Response:
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        body = await request.json()
        self.state.embedding_requests.append(body)
        options = self.state.options
        await asyncio.sleep(options.embeddings_delay)
        if options.embeddings_status is not None:
            return _error(options.embeddings_status, "scripted failure", "server_error", None)
        texts = [body["input"]] if isinstance(body.get("input"), str) else body.get("input")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
            return _error(400, "input must be a non-empty string or list of them", "invalid_request_error", None)
        size = int(body.get("dimensions") or options.embedding_dimensions)
        tokens = sum(len(t.split()) for t in texts)
        return web.json_response({
            "object": "list", "model": str(body.get("model", "fake")),
            "data": [{"object": "embedding", "index": i, "embedding": hashed_bag_of_words(t, size)}
                     for i, t in enumerate(texts)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    def add_routes(self, app: web.Application) -> None:
        """Serve this fake's routes from ``app`` (a bench serves several fakes from one port)."""
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/audio/speech", self._speech)
        app.router.add_post("/v1/embeddings", self._embeddings)

    async def start(self) -> str:
        """Listen on 127.0.0.1 (a free port); return the API base URL ending in ``/v1``."""
        app = web.Application()
        self.add_routes(app)
        self._runner, port = await serve_locally(app)
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self.base_url

    async def close(self) -> None:
        """Stop the server."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def _hung_up_within(request: web.Request, seconds: float) -> bool:
    """Wait up to ``seconds``, sending nothing; whether the client closed the connection meanwhile."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while loop.time() < until:
        if request.transport is None or request.transport.is_closing():
            return True
        await asyncio.sleep(0.02)
    return False


def hashed_bag_of_words(text: str, dimensions: int) -> list[float]:
    """A deterministic embedding: each lower-cased word but function words counted in the dimension its hash
    picks, L2-normalised.

    Texts sharing words point the same way, as a real model's would for these test questions.
    """
    counts = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        if word in _FUNCTION_WORDS:
            continue
        counts[int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big") % dimensions] += 1.0
    norm = math.sqrt(sum(c * c for c in counts)) or 1.0
    return [c / norm for c in counts]


def schema_example(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """The smallest document a (strict) JSON schema allows: first enum values, nulls where allowed, no items."""
    if "$ref" in schema:
        return schema_example(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        options = schema["anyOf"]
        return None if {"type": "null"} in options else schema_example(options[0], defs)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: schema_example(sub, defs) for name, sub in schema.get("properties", {}).items()}
    defaults = {"array": [], "string": "x" * schema.get("minLength", 0), "integer": schema.get("minimum", 0),
                "number": schema.get("minimum", 0), "boolean": False}
    return defaults.get(kind)


def _usage(prompt: int, completion: int, options: FakeOpenAiOptions) -> dict[str, Any]:
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}
    if cached := min(options.cached_tokens, prompt):
        if options.cached_tokens_field == "prompt_cache_hit_tokens":
            usage["prompt_cache_hit_tokens"] = cached
        else:
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return usage


def _error(status: int, message: str, kind: str, code: str | None) -> web.Response:
    return web.json_response({"error": {"message": message, "type": kind, "param": None, "code": code}},
                             status=status)


async def start_fake_openai(**options: Any) -> tuple[str, FakeOpenAiState, Callable[[], Awaitable[None]]]:
    """Start a :class:`FakeOpenAi`; return ``(base_url, state, close)``; base_url ends in ``/v1``."""
    fake = FakeOpenAi(**options)
    base_url = await fake.start()
    return base_url, fake.state, fake.close
