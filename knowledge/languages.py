"""Which PostgreSQL text-search configuration indexes and searches an agent's knowledge, from its language.

An agent's language is a BCP-47 tag (`agents.language`: "en-US", "fr-FR", "pt-BR"); its
primary subtag picks the Snowball stemmer PostgreSQL ships for that language, so "réparer"
finds "réparation" for a French agent. A language PostgreSQL has no stemmer for gets
`simple` (lower-cased words, no stemming, no stop words), which still matches exact words.
The SQL side (`index.py`) falls back to `simple` too when the server lacks a configuration
(several arrived only in PostgreSQL 16), so a name here never fails a query.
"""

from __future__ import annotations

from typing import Final

DEFAULT: Final = "simple"

_CONFIGS: Final = {
    "ar": "arabic", "ca": "catalan", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "eu": "basque", "fi": "finnish", "fr": "french", "ga": "irish", "hi": "hindi",
    "hu": "hungarian", "hy": "armenian", "id": "indonesian", "it": "italian", "lt": "lithuanian",
    "nb": "norwegian", "ne": "nepali", "nl": "dutch", "nn": "norwegian", "no": "norwegian",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian", "sv": "swedish", "ta": "tamil",
    "tr": "turkish", "yi": "yiddish",
}


def search_config(language: str) -> str:
    """The text-search configuration for a BCP-47 language tag ("fr-FR" -> "french"; unknown -> "simple")."""
    primary = language.strip().replace("_", "-").split("-", 1)[0].lower()
    return _CONFIGS.get(primary, DEFAULT)
