"""The code type-checks under mypy's strict mode with the pydantic plugin, so CI's one test
command checks that too. What mypy checks, and how, is `[tool.mypy]` in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_strict_finds_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--hide-error-context"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"mypy (strict) found errors; run `uv run mypy`:\n{result.stdout}"
