"""Where vectors come from: the `Embedder` interface and its OpenAI-compatible client (`POST {base}/embeddings`).

One small interface, so retrieval and the embedding job never care which server answers:
OpenAI, or any server speaking its embeddings API (vLLM, llama.cpp, Ollama, text-embeddings-
inference). The client speaks the wire itself over the process's aiohttp session (the SDK
would bring its own HTTP stack for one JSON POST) and bounds every request by the caller's
timeout. Every failure, refused or timed out, is an `EmbeddingError`: the caller decides what
it costs (a retried job, or an answer grounded by full-text search alone).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

import aiohttp
import orjson


class EmbeddingError(Exception):
    """The embeddings server failed, refused, timed out, or answered something unusable."""


class Embedder(Protocol):
    """Turns texts into vectors of one model."""

    @property
    def model(self) -> str:
        """The vectors' kind: the model, and their length when shortened (stored beside them; kinds never meet)."""

    async def embed(self, texts: Sequence[str], *, timeout: float) -> list[list[float]]:
        """One vector per text, in order.

        Raises:
            EmbeddingError: no vectors within `timeout` seconds, or not one per text.
        """


class OpenAiEmbeddings:
    """The OpenAI-compatible embeddings API.

    Args:
        session: the process's client session (its connections are reused).
        base_url: the API's base, ending in `/v1` for OpenAI.
        api_key: sent as a bearer token when not empty.
        model: the model asked for.
        dimensions: sent when positive (text-embedding-3 models shorten their vectors).
    """

    def __init__(self, session: aiohttp.ClientSession, *, base_url: str, api_key: str, model: str,
                 dimensions: int = 0) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/embeddings"
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._model = model
        self._dimensions = dimensions

    @property
    def model(self) -> str:
        return f"{self._model}:{self._dimensions}" if self._dimensions else self._model

    async def embed(self, texts: Sequence[str], *, timeout: float) -> list[list[float]]:
        if not texts:
            return []
        body: dict[str, Any] = {"model": self._model, "input": list(texts)}
        if self._dimensions:
            body["dimensions"] = self._dimensions
        try:
            async with self._session.post(self._url, data=orjson.dumps(body), headers=self._headers,
                                          timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                raw = await response.read()
                if response.status != 200:
                    raise EmbeddingError(f"embeddings answered {response.status}: {raw[:200]!r}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise EmbeddingError(f"embeddings request failed: {type(exc).__name__}: {exc}") from exc
        return vectors_of(raw, len(texts))


def vectors_of(raw: bytes, count: int) -> list[list[float]]:
    """The vectors of an embeddings response, in input order (servers may list them in any order).

    Raises:
        EmbeddingError: not JSON, not `count` vectors of numbers, or not all of one length.
    """
    try:
        data = orjson.loads(raw)["data"]
        ordered = sorted(data, key=lambda item: int(item["index"]))
        vectors = [[float(x) for x in item["embedding"]] for item in ordered]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise EmbeddingError(f"unusable embeddings response: {type(exc).__name__}: {exc}") from exc
    if len(vectors) != count or [int(item["index"]) for item in ordered] != list(range(count)):
        raise EmbeddingError(f"expected {count} vectors, got {len(vectors)}")
    if not vectors[0] or any(len(v) != len(vectors[0]) for v in vectors):
        raise EmbeddingError("vectors of different or zero lengths")
    return vectors
