"""Headless Chromium for the dashboard tests: Debian's ``chromium`` driven by playwright.

Playwright's own browser download is never used (this machine cannot fetch it, and a distro
package is what a CI image has): ``executable_path`` points at ``CHROMIUM`` (``/usr/bin/chromium``,
or ``$PDX_CHROMIUM``). The flags keep Chromium off the network (no background requests, no
component updates, no sync) and fit a container (no sandbox as root, no GPU, no /dev/shm).
``.ci/run`` installs the package when it is missing; a developer machine without it skips the
browser tests, saying so (under CI they fail instead).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("PDX_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--metrics-recording-only", "--mute-audio"]


def require_chromium() -> str:
    """The browser's path; skip (or fail under CI) when it is not installed."""
    if Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = (f"Chromium not found at {CHROMIUM}: apt-get install chromium (.ci/run does), "
              "or set PDX_CHROMIUM")
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)
