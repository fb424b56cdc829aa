"""Waiting for a condition with a deadline: every wait in the tests polls, none sleeps a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

POLL_S = 0.05


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str, diagnostics: Callable[[], str] = str,
               interval_s: float = POLL_S):
    """Poll ``condition`` until it returns something truthy (returned); fail the test naming ``what`` (and the
    ``diagnostics()``) after ``timeout_s``. OSError and ValueError count as "not yet": not listening yet, a
    half-written response, a process's /proc entry gone."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = condition()
        except (OSError, ValueError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}\n{diagnostics()}", pytrace=False)
        time.sleep(interval_s)
