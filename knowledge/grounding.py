"""What an answer is grounded in: the agent's best chunks for a question, as a reference block of data.

The block (its format: `media.llm.references`) goes into the last user turn, after the
history, fenced and declared to be quoted material: a page that says "ignore previous
instructions" is text the model reads about, not an order it takes. The sources (title and
URL of each chunk used) travel with the reply so the widget can show where the answer came
from.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

from knowledge import hybrid, index
from knowledge.config import KnowledgeConfig
from knowledge.embeddings import Embedder
from media.llm.references import Reference, reference_block
from storage.executor import Executor

__all__ = ["Citation", "Grounding", "Reference", "citations", "reference_block"]

# Context handed to the model per answer, in estimated tokens.
MAX_CONTEXT_TOKENS = 2000
# A follow-up this short ("and on Sundays?") is searched together with the message before it.
SHORT_QUESTION_WORDS = 6


@dataclasses.dataclass(frozen=True, slots=True)
class Citation:
    title: str
    url: str


def citations(references: Sequence[Reference]) -> tuple[Citation, ...]:
    """Each distinct page the references came from, in order (texts without a URL are not cited)."""
    seen = dict.fromkeys((r.title, r.url) for r in references if r.url)
    return tuple(Citation(title, url) for title, url in seen if url is not None)


@dataclasses.dataclass(frozen=True)
class Grounding:
    """Retrieval for one agent, handed to a conversation by the shell."""

    db: Executor
    agent_id: uuid.UUID
    config: KnowledgeConfig
    # The agent's text-search configuration: `knowledge.languages.search_config(agent.language)`.
    language: str
    # The question's vectors when `[knowledge.embeddings]` is on (`knowledge.hybrid`); None: full-text alone.
    embedder: Embedder | None = None
    # How long the vector side (the question's vector, the nearest chunks) may take; None:
    # `[knowledge.embeddings] query_timeout_seconds`. Beyond it, full-text search alone.
    embedding_timeout_seconds: float | None = None

    async def references(self, question: str, previous: str | None = None) -> list[Reference]:
        query = question
        if previous and len(question.split()) < SHORT_QUESTION_WORDS:
            query = f"{previous} {question}"
        timeout = self.embedding_timeout_seconds or self.config.embeddings.query_timeout_seconds
        hits = await hybrid.search(self.db, self.agent_id, query[:500], language=self.language,
                                   limit=self.config.top_chunks, embedder=self.embedder, timeout=timeout)
        return [Reference(h.title, h.url, h.content) for h in index.within_budget(hits, MAX_CONTEXT_TOKENS)]
