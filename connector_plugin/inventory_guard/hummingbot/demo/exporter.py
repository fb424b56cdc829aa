"""The demo's metrics: the exporter (``inventory_guard_exporter``) as a child process reading the demo's journal."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
from pathlib import Path


def any_free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free_port_ok(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def start_exporter(journal: Path, port: int, out) -> subprocess.Popen | None:
    """The exporter serving ``journal`` on 127.0.0.1:``port``; None (and a line on ``out`` saying why) when it
    cannot be started."""
    if importlib.util.find_spec("inventory_guard_exporter") is None:
        print("demo: metrics not served (the exporter package inventory_guard_exporter is not installed)", file=out)
        return None
    if not _free_port_ok(port):
        print(f"demo: metrics not served: 127.0.0.1:{port} is in use", file=out)
        return None
    try:
        return subprocess.Popen([sys.executable, "-m", "inventory_guard_exporter", "--journal", str(journal),
                                 "--listen", f"127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    except OSError as exc:
        print(f"demo: metrics not served: could not start the exporter ({exc})", file=out)
        return None


def stop_exporter(proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
