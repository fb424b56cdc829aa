"""Helpers for the monitoring tests: find (or install) Debian's Prometheus tools, run real prometheus,
prometheus-alertmanager and the inventory-guard exporter on free 127.0.0.1 ports, receive Alertmanager webhooks,
and talk to Prometheus's HTTP API.

Every wait polls a readiness condition with a deadline (no fixed sleeps); every process started here is stopped by
the ``Stack``'s ``close()`` (a context manager), killed if it does not exit on SIGTERM.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from support.net import free_port, http_get
from support.processes import stop_process
from support.waiting import wait_until

APT_PACKAGES = ("prometheus", "prometheus-alertmanager")
APT_COMMAND = ["apt-get", "install", "-y", "--no-install-recommends", *APT_PACKAGES]


# --- binaries -----------------------------------------------------------------------------------------------------


def _alertmanager_binary() -> str | None:
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def _missing_binaries() -> list[str]:
    missing = [b for b in ("prometheus", "promtool", "amtool") if not shutil.which(b)]
    if not _alertmanager_binary():
        missing.append("prometheus-alertmanager")
    return missing


def _try_apt_install() -> str:
    """Install the Debian packages if we can (root, or password-less sudo); return what happened, for messages."""
    if not shutil.which("apt-get"):
        return "no apt-get on this machine"
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if prefix and not shutil.which("sudo"):
        return "not root and no sudo"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    result = subprocess.run(prefix + APT_COMMAND, capture_output=True, text=True, timeout=600, env=env)
    if result.returncode != 0:  # package lists may be missing on a fresh machine
        subprocess.run(prefix + ["apt-get", "update", "-qq"], capture_output=True, timeout=600, env=env)
        result = subprocess.run(prefix + APT_COMMAND, capture_output=True, text=True, timeout=600, env=env)
    return f"`{' '.join(prefix + APT_COMMAND)}` exited {result.returncode}: {result.stderr.strip()[-500:]}"


def require_monitoring_binaries() -> dict[str, str]:
    """Paths of prometheus, promtool, alertmanager and amtool; installs Debian's packages when missing, and fails
    the test (never skips) when that is not possible."""
    missing = _missing_binaries()
    if missing:
        outcome = _try_apt_install()
        missing = _missing_binaries()
        if missing:
            pytest.fail(
                f"monitoring tests need {', '.join(missing)} (Debian packages {' '.join(APT_PACKAGES)}); "
                f"automatic install failed: {outcome}. Install them with: {' '.join(APT_COMMAND)}",
                pytrace=False,
            )
    paths = {
        "prometheus": shutil.which("prometheus"),
        "promtool": shutil.which("promtool"),
        "alertmanager": _alertmanager_binary(),
        "amtool": shutil.which("amtool"),
    }
    return {name: path for name, path in paths.items() if path is not None}  # all of them: none is missing


# --- processes --------------------------------------------------------------------------------------------------------


@dataclass
class Process:
    """A child process with its output in a log file; ``stop()`` terminates it (SIGKILL after 5 s)."""

    name: str
    argv: list[str]
    log_path: Path
    cwd: Path | None = None
    popen: subprocess.Popen | None = None

    def start(self) -> Process:
        with open(self.log_path, "wb") as log:  # the child keeps its own copy of the descriptor
            self.popen = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.cwd,
                start_new_session=True,
            )
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.popen is not None:
            stop_process(self.popen, timeout_s=5)


# --- webhook receiver -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """One Alertmanager webhook POST: the receiver path (e.g. ``/page``), arrival time and JSON body."""

    path: str
    received_at: float
    body: dict

    def alerts(self) -> list[dict]:
        return self.body.get("alerts", [])


class WebhookReceiver:
    """A tiny Alertmanager webhook endpoint on 127.0.0.1 recording every notification, in a background thread."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.notifications.append(Notification(self.path, time.time(), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook", daemon=True)
        self._thread.start()

    def find(
        self, alertname: str, status: str, path: str | None = None, **labels: str
    ) -> list[tuple[Notification, dict]]:
        """Every (notification, alert) received so far with that alert name, status and labels."""
        with self._lock:
            notifications = list(self.notifications)
        return [
            (n, a)
            for n in notifications
            if path is None or n.path == path
            for a in n.alerts()
            if a["labels"].get("alertname") == alertname
            and a["status"] == status
            and all(a["labels"].get(k) == v for k, v in labels.items())
        ]

    def summary(self) -> str:
        with self._lock:
            return "\n".join(
                f"  {n.received_at:.1f} {n.path} "
                + ", ".join(
                    f"{a['labels'].get('alertname')}[{a['labels'].get('market', '')}]={a['status']}" for a in n.alerts()
                )
                for n in self.notifications
            ) or "  (no notifications)"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- Prometheus HTTP API ----------------------------------------------------------------------------------------------


class PrometheusAPI:
    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params) -> dict:
        query = urllib.parse.urlencode(params, doseq=True)
        response = http_get(f"{self.url}{path}?{query}", timeout=5)
        try:
            return json.loads(response.body)
        except ValueError:
            return {"status": "error", "error": f"HTTP {response.status}: {response.body[:300]!r}"}

    def query(self, expr: str, at: float | None = None) -> dict:
        return self.get("/api/v1/query", query=expr, **({} if at is None else {"time": at}))

    def query_range(self, expr: str, start: float, end: float, step: float) -> dict:
        return self.get("/api/v1/query_range", query=expr, start=start, end=end, step=step)

    def label_values(self, label: str, match: str, start: float, end: float) -> list[str]:
        r = self.get(f"/api/v1/label/{label}/values", **{"match[]": match, "start": start, "end": end})
        if r.get("status") != "success":
            raise AssertionError(f"label_values({match}, {label}) failed: {r.get('error')}")
        return r["data"]

    def metric_names(self) -> set[str]:
        return set(self.get("/api/v1/label/__name__/values").get("data", []))

    def scraped_up(self, job: str) -> bool:
        r = self.query(f'up{{job="{job}"}} == 1')
        return r.get("status") == "success" and bool(r["data"]["result"])


# --- the stack --------------------------------------------------------------------------------------------------------


def alertmanager_config_for_test(example: dict, webhook_url: str) -> dict:
    """The example Alertmanager config with its routing tree kept, every webhook pointed at ``webhook_url`` + the
    URL's original path (``/page``, ``/chat``), and second-scale grouping timers."""
    config = json.loads(json.dumps(example))  # deep copy

    def speed_up(route: dict) -> None:
        for key, value in (("group_wait", "1s"), ("group_interval", "1s"), ("repeat_interval", "1h")):
            if key in route or route is config["route"]:
                route[key] = value
        for child in route.get("routes", []):
            speed_up(child)

    speed_up(config["route"])
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook_url + urllib.parse.urlparse(hook["url"]).path
    return config


@dataclass
class Stack:
    """exporter -> Prometheus (rules) -> Alertmanager -> webhook, all on 127.0.0.1, started by ``start()``."""

    workdir: Path
    state_paths: list[Path]
    rules_yaml: str
    alertmanager_config: dict  # receivers are redirected to the webhook
    job: str = "inventory_guard"
    interval: str = "1s"
    binaries: dict[str, str] = field(default_factory=require_monitoring_binaries)
    processes: dict[str, Process] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._exit = ExitStack()
        self.webhook = WebhookReceiver()
        self._exit.callback(self.webhook.close)
        self.exporter_port, self.prometheus_port, self.alertmanager_port = free_port(), free_port(), free_port()
        self.prometheus = PrometheusAPI(f"http://127.0.0.1:{self.prometheus_port}")
        self.alertmanager_url = f"http://127.0.0.1:{self.alertmanager_port}"
        self.exporter_url = f"http://127.0.0.1:{self.exporter_port}"

    # configuration files ----------------------------------------------------------------------------------------------

    def _write_configs(self) -> None:
        (self.workdir / "rules.yml").write_text(self.rules_yaml)
        prometheus = {
            "global": {"scrape_interval": self.interval, "evaluation_interval": self.interval},
            "rule_files": ["rules.yml"],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{self.alertmanager_port}"]}]}]},
            "scrape_configs": [
                {"job_name": self.job, "static_configs": [{"targets": [f"127.0.0.1:{self.exporter_port}"]}]}
            ],
        }
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(prometheus, sort_keys=False))
        am = alertmanager_config_for_test(self.alertmanager_config, self.webhook.url)
        (self.workdir / "alertmanager.yml").write_text(yaml.safe_dump(am, sort_keys=False))

    def _process(self, name: str, argv: list[str]) -> Process:
        proc = Process(name, argv, self.workdir / f"{name}.log", cwd=self.workdir).start()
        self.processes[name] = proc
        self._exit.callback(proc.stop)
        return proc

    # lifecycle ---------------------------------------------------------------------------------------------------

    def start(self, timeout_s: float = 30) -> Stack:
        t0 = time.monotonic()
        self._write_configs()
        exporter_argv = [
            sys.executable, "-m", "inventory_guard_exporter", "--listen", f"127.0.0.1:{self.exporter_port}"
        ]
        for path in self.state_paths:
            exporter_argv += ["--journal", str(path)]
        self._process("exporter", exporter_argv)
        self._process("alertmanager", [
            self.binaries["alertmanager"], "--config.file=alertmanager.yml", "--storage.path=alertmanager-data",
            f"--web.listen-address=127.0.0.1:{self.alertmanager_port}", "--cluster.listen-address=",
        ])
        self._process("prometheus", [
            self.binaries["prometheus"], "--config.file=prometheus.yml", "--storage.tsdb.path=prometheus-data",
            f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
        ])
        self._wait_http("exporter", f"{self.exporter_url}/metrics", timeout_s)
        self._wait_http("alertmanager", f"{self.alertmanager_url}/-/ready", timeout_s)
        self._wait_http("prometheus", f"{self.prometheus.url}/-/ready", timeout_s)
        self.timings["ready_s"] = time.monotonic() - t0
        wait_until(lambda: self.prometheus.scraped_up(self.job), timeout_s, "Prometheus's first scrape of the exporter",
                   self.diagnostics)
        self.timings["first_scrape_s"] = time.monotonic() - t0
        return self

    def _wait_http(self, name: str, url: str, timeout_s: float) -> None:
        def ready():
            if not self.processes[name].alive():
                pytest.fail(f"{name} exited early:\n{self.processes[name].log_tail()}", pytrace=False)
            return http_get(url, timeout=1).status == 200

        wait_until(ready, timeout_s, f"{name} at {url}", self.diagnostics)

    def diagnostics(self) -> str:
        parts = [f"--- webhook notifications:\n{self.webhook.summary()}"]
        for name, proc in self.processes.items():
            parts.append(f"--- {name} ({'running' if proc.alive() else 'exited'}) log tail:\n{proc.log_tail(1500)}")
        return "\n".join(parts)

    def close(self) -> None:
        self._exit.close()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
