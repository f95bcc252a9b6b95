"""An import-linter contract for a submodule of an outside package (`aiohttp.web`).

import-linter squashes outside packages to their top-level name, so its `forbidden` contract
can't tell `aiohttp.web` (the server) from `aiohttp.ClientSession` (a client, which domains may
use). Its graph keeps the text of each import line, and that is enough: this contract refuses a
line that names the forbidden submodule.
"""

from __future__ import annotations

import re

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def names_submodule(line: str, submodule: str) -> bool:
    """Whether an import line imports `submodule` (`a.b`), as `import a.b`, `from a.b …` or `from a import b`."""
    package, _, name = submodule.rpartition(".")
    dotted = re.escape(submodule)
    return bool(re.match(rf"\s*(import|from)\s+{dotted}\b", line)
                or re.match(rf"\s*from\s+{re.escape(package)}\s+import\s+.*\b{re.escape(name)}\b", line))


class ForbiddenSubmoduleContract(Contract):
    """`source_modules` never import any of `forbidden_submodules` (dotted names inside outside packages)."""

    type_name = "forbidden_submodule"

    source_modules = fields.ListField(subfield=fields.StringField())
    forbidden_submodules = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        found: list[str] = []
        sources = [str(s) for s in self.source_modules]
        for submodule in (str(s) for s in self.forbidden_submodules):
            package = submodule.split(".")[0]
            if package not in graph.modules:
                continue
            for importer in sorted(graph.find_modules_that_directly_import(package)):
                if not any(importer == s or importer.startswith(s + ".") for s in sources):
                    continue
                for detail in graph.get_import_details(importer=importer, imported=package):
                    if names_submodule(detail["line_contents"], submodule):
                        found.append(f"{importer}:{detail['line_number']} imports {submodule}: "
                                     f"{detail['line_contents'].strip()}")
        return ContractCheck(kept=not found, metadata={"found": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for line in check.metadata["found"]:
            output.print_error(line)
            output.new_line()
