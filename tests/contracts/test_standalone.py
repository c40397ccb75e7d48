"""`contracts` installs on its own: pydantic is its only dependency, in metadata and in code."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
PACKAGE = CONTRACTS / "livskraft_contracts"
ALLOWED = set(sys.stdlib_module_names) | {"pydantic"}


def imported_roots(source: str) -> set[str]:
    """Top-level names of the absolute imports in a module (relative ones stay in the package)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_pydantic_is_the_only_dependency() -> None:
    project = tomllib.loads((CONTRACTS / "pyproject.toml").read_text())["project"]
    names = [re.match(r"[A-Za-z0-9._-]+", req).group(0).lower() for req in project["dependencies"]]
    assert names == ["pydantic"]
    assert "optional-dependencies" not in project


def test_modules_import_only_stdlib_and_pydantic() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 8
    outside = {
        path.name: sorted(imported_roots(path.read_text(encoding="utf-8")) - ALLOWED) for path in modules
    }
    assert {name: roots for name, roots in outside.items() if roots} == {}


def test_the_import_walk_sees_what_it_should() -> None:
    source = "import os.path\nfrom pydantic import Field\nfrom . import common\nimport faststream\n"
    assert imported_roots(source) == {"os", "pydantic", "faststream"}
