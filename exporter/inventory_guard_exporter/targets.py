"""Which journals to read: explicit paths plus glob patterns expanded at every scrape.

Globs are expanded at scrape time so a bot added to a fleet directory appears without restarting the exporter;
an explicit path is always listed, so a missing file shows up as ``journal_up 0`` rather than disappearing. Every
match is listed, directories and FIFOs included: the reader reports those as ``journal_up 0`` with the reason.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Targets:
    paths: tuple[str, ...] = ()
    globs: tuple[str, ...] = ()

    def resolve(self) -> list[str]:
        """Absolute paths in a stable order (explicit ones first, then sorted glob matches), each file once."""
        seen: set[str] = set()
        result: list[str] = []
        candidates = list(self.paths)
        for pattern in self.globs:
            candidates.extend(sorted(glob.glob(os.path.expanduser(pattern))))  # a non-file match is journal_up 0
        for path in candidates:
            path = os.path.abspath(os.path.expanduser(path))
            key = os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                result.append(path)
        return result

    def describe(self) -> str:
        parts = [*self.paths, *(f"{g} (glob)" for g in self.globs)]
        return ", ".join(parts)
