"""Helpers shared by the tests and the benchmarks (no tests here; pytest's fixtures are in ``tests/conftest.py``).

* ``support.guard``: drive a core ``Guard`` with JSON-like events; ``counter()`` reads a counter from any counters dict.
* ``support.hummingbot``: offline Hummingbot connectors and a guarded V2 script.
* ``support.exporter``: run the exporter as a real process, scrape it, parse its samples, write journals.
* ``support.monitoring``: real Prometheus, Alertmanager and the exporter wired together, with a webhook receiver.
* ``support.net`` / ``support.processes`` / ``support.waiting``: HTTP GET and a free port, stopping a child
  process, waiting for a condition with a deadline.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
