"""Where the official Paradex spec files are: ``PARADEX_SPEC_DIR`` (default ``../shared/paradex/spec``).

Conformance tests call :func:`spec_path` and skip, with the reason, when the files are absent (a
user's clone has no ``../shared``); nothing outside the tests depends on them.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def spec_dir() -> Path:
    return (ROOT / os.environ.get("PARADEX_SPEC_DIR", "../shared/paradex/spec")).resolve()


def spec_path(name: str) -> Path:
    """Path of spec file ``name``; skips the calling test when it is not there."""
    path = spec_dir() / name
    if not path.is_file():
        pytest.skip(f"Paradex spec file {name} not found in {spec_dir()} (set PARADEX_SPEC_DIR)")
    return path


@cache
def _load(name: str) -> Any:
    path = spec_dir() / name
    if name.endswith((".yaml", ".yml")):
        import yaml

        return yaml.safe_load(path.read_text())
    return json.loads(path.read_text())


def load_spec(name: str) -> Any:
    """Parsed content of spec file ``name`` (JSON or YAML); skips when absent."""
    spec_path(name)
    return _load(name)
