"""The one skip policy for real components: skip locally with the reason, fail in CI."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import NoReturn

import pytest


def component_missing(reason: str) -> NoReturn:
    """Skip the test because a real component is missing; fail instead when CI=true.

    CI must have every component installed: a skip there would hide a missing
    install step, so it is turned into a failure.
    """
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: a missing component is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def find_program(name: str, *candidates: Path) -> Path | None:
    """The first executable among ``candidates``, else ``name`` found on PATH."""
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def free_port() -> int:
    """A loopback port that was free a moment ago (bind 0, release).

    Another process can take it before we use it; callers retry on a bind failure.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
