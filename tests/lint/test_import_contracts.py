"""The submodule contract recognises every way an import line can name `aiohttp.web`."""

from __future__ import annotations

import pytest

from tests.lint.import_contracts import names_submodule


@pytest.mark.parametrize("line", [
    "from aiohttp import web",
    "from aiohttp import ClientSession, web",
    "import aiohttp.web",
    "from aiohttp.web import Request",
    "    from aiohttp import web  # inside a function",
])
def test_an_import_of_the_server_module_is_caught(line: str) -> None:
    assert names_submodule(line, "aiohttp.web")


@pytest.mark.parametrize("line", [
    "import aiohttp",
    "from aiohttp import ClientSession, ClientTimeout",
    "from aiohttp import web_exceptions_are_not_web",
    "import aiohttp.client",
])
def test_client_imports_are_allowed(line: str) -> None:
    assert not names_submodule(line, "aiohttp.web")
