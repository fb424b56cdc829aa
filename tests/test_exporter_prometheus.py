"""End to end with Debian's Prometheus 2.42: it scrapes the exporter (negotiating the text format) and stores
exactly the core's numbers. Prometheus batches target discovery every 5 s, so the first scrape takes ~5-6 s."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse

import pytest

from support.exporter import CONFIG, SCENARIO, running_exporter, write_journal
from support.net import free_port, http_get
from support.processes import stop_process
from support.waiting import wait_until

pytestmark = pytest.mark.monitoring


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        pytest.fail("prometheus is missing: install Debian's prometheus package (bootstrap.sh test does it)")
    return path


def ready(base: str) -> bool:
    try:
        return http_get(f"{base}/-/ready", timeout=2).status == 200
    except OSError:  # not listening yet
        return False


def query(base: str, promql: str) -> list[dict]:
    response = http_get(f"{base}/api/v1/query?query={urllib.parse.quote(promql)}")
    assert response.status == 200, response.text
    return json.loads(response.text)["data"]["result"]


def test_prometheus_scrapes_the_exporter_and_stores_the_core_state(tmp_path):
    journal = write_journal(tmp_path / "b1.sqlite", SCENARIO, CONFIG)
    try:
        with running_exporter("--journal", str(journal.path)) as exporter:
            target = exporter.url.removeprefix("http://")
            (tmp_path / "prometheus.yml").write_text(
                "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                "scrape_configs:\n"
                "  - job_name: inventory_guard\n"
                f"    static_configs: [{{targets: ['{target}']}}]\n"
            )
            port = free_port()
            prometheus = subprocess.Popen(
                [prometheus_binary(), f"--config.file={tmp_path / 'prometheus.yml'}",
                 f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            base = f"http://127.0.0.1:{port}"
            try:
                wait_until(lambda: ready(base) or prometheus.poll() is not None, 30, "Prometheus ready")
                assert prometheus.poll() is None, "prometheus exited (port taken?)"
                up = wait_until(lambda: query(base, 'up{job="inventory_guard"}'), 30,
                                "Prometheus's first scrape of the exporter", interval_s=0.2)
                assert up[0]["value"][1] == "1"
                confirmed = query(base, 'inventory_guard_confirmed_position{market="BTC-USDT"}')
                assert float(confirmed[0]["value"][1]) == float(journal.state("BTC-USDT").confirmed)
                assert confirmed[0]["metric"]["bot"] == "b1"
                drift = query(base, 'inventory_guard_effective_minus_confirmed{market="BTC-USDT"}')
                view = journal.state("BTC-USDT")
                assert float(drift[0]["value"][1]) == float(view.effective - view.confirmed)
                journal_up = query(base, "inventory_guard_exporter_journal_up")
                assert [s["value"][1] for s in journal_up] == ["1"]
            finally:
                stop_process(prometheus, timeout_s=30)
    finally:
        journal.close()
