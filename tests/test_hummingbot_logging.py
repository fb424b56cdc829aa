"""The guard's log lines inside Hummingbot: they survive Hummingbot's own logging setup (``init_logging``, a
``dictConfig`` that disables existing loggers) in the order a headless start runs it, and a journal replay is quiet.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from decimal import Decimal

import pytest

from support.hummingbot import PAPER, PAPER_PAIR, make_paper

pytestmark = pytest.mark.hummingbot
D = Decimal

# Runs in a fresh interpreter: init_logging replaces the root logger's handlers for the whole process.
HEADLESS = textwrap.dedent("""
    import os, shutil, sys
    from decimal import Decimal
    from pathlib import Path

    import hummingbot
    from hummingbot import init_logging, set_prefix_path
    from hummingbot.client.config.client_config_map import ClientConfigMap
    from hummingbot.client.config.config_helpers import ClientConfigAdapter

    root = Path(sys.argv[1])
    (root / "conf").mkdir(parents=True)
    (root / "logs").mkdir()
    shutil.copy(Path(hummingbot.__file__).parent / "templates" / "hummingbot_logs_TEMPLATE.yml",
                root / "conf" / "hummingbot_logs.yml")
    set_prefix_path(str(root))
    ccm = ClientConfigAdapter(ClientConfigMap())

    # 1. boot (bootstrap_application)
    init_logging("hummingbot_logs.yml", ccm, strategy_file_path="conf_guarded")
    # 2. headless load_and_start_strategy: the script module is imported, the strategy (and its bridge) built
    import inventory_guard.hummingbot.script  # noqa: F401  (what the shim script imports)
    from hummingbot.connector.test_support.mock_paper_exchange import MockPaperExchange
    from inventory_guard.hummingbot.bridge import GuardBridge
    paper = MockPaperExchange()
    paper.set_balanced_order_book("HBOT-USDT", 100, 50, 150, 1, 10)
    paper.set_balance("HBOT", Decimal(1))              # at the limit: every buy is blocked
    paper.set_balance("USDT", Decimal(10000))
    bridge = GuardBridge({"max_position": "1", "size_increment": "1"}, {"mock_paper_exchange": paper},
                         markets={"mock_paper_exchange": ["HBOT-USDT"]}).attach()
    # 3. run_application re-initialises logging (headless) after the strategy started
    init_logging("hummingbot_logs.yml", ccm, strategy_file_path="conf_guarded")
    assert not bridge.check("mock_paper_exchange", "HBOT-USDT", "buy", Decimal(5)).allowed
    # 4. `stop` + `start`: start_command runs init_logging again
    for n in range(2):
        init_logging("hummingbot_logs.yml", ccm, strategy_file_path="conf_guarded")
    assert not bridge.check("mock_paper_exchange", "HBOT-USDT", "buy", Decimal(7)).allowed
    bridge.close()
    print("DONE", flush=True)
""")


def test_guard_lines_reach_hummingbots_log_file_and_console_after_init_logging(tmp_path):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-c", HEADLESS, str(tmp_path / "hb")], capture_output=True, text=True,
                          timeout=120, env=env, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert proc.returncode == 0 and "DONE" in proc.stdout, proc.stdout + proc.stderr
    log_file = tmp_path / "hb" / "logs" / "logs_conf_guarded.log"
    text = log_file.read_text()
    blocks = [line for line in text.splitlines() if " - inventory_guard - WARNING - " in line and "blocked" in line]
    assert len(blocks) == 2, text                           # the buy of 5 (after headless re-init) and of 7
    assert "buy of 5 blocked" in blocks[0] and "buy of 7 blocked" in blocks[1]
    console = [line for line in proc.stdout.splitlines() if "inventory_guard - " in line and "blocked" in line]
    assert len(console) == 2, proc.stdout                  # Hummingbot's CLIHandler prints to stdout


UNCLEAN_RUN = textwrap.dedent("""
    import os, sys
    from decimal import Decimal
    from hummingbot.connector.test_support.mock_paper_exchange import MockPaperExchange
    from inventory_guard.hummingbot.bridge import GuardBridge
    paper = MockPaperExchange()
    paper.set_balanced_order_book("HBOT-USDT", 100, 50, 150, 1, 10)
    paper.set_balance("HBOT", Decimal(1))
    bridge = GuardBridge({"max_position": "1", "size_increment": "1"}, {"mock_paper_exchange": paper}, sys.argv[1],
                         markets={"mock_paper_exchange": ["HBOT-USDT"]}).attach()
    for size in (3, 4, 5):
        assert not bridge.check("mock_paper_exchange", "HBOT-USDT", "buy", Decimal(size)).allowed
    os._exit(0)                  # an unclean stop: no checkpoint, the next open replays every event
""")


def test_journal_replay_after_an_unclean_stop_is_quiet_then_one_summary_line(tmp_path, caplog):
    from inventory_guard.hummingbot.bridge import GuardBridge
    journal = tmp_path / "ig.sqlite"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-c", UNCLEAN_RUN, str(journal)], capture_output=True, text=True,
                          timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    with caplog.at_level(logging.DEBUG):
        bridge = GuardBridge({"max_position": "1", "size_increment": "1"}, {PAPER: make_paper(hbot="1")}, journal,
                             markets={PAPER: [PAPER_PAIR]})            # replays the snapshot and the three checks
    msgs = [r.getMessage() for r in caplog.records if r.name.startswith("inventory_guard")]
    assert not [m for m in msgs if "blocked" in m], msgs    # nothing historical re-emitted as new
    (summary,) = [m for m in msgs if "restored at event" in m]
    assert str(journal) in summary and "restored at event 4 (3 log lines of the replay not repeated)" in summary
    (market,) = bridge.markets
    assert f"{market} confirmed 1 exposure 1" in summary
    assert bridge.state(market).confirmed == D(1)           # the replay itself happened
    caplog.clear()
    with caplog.at_level(logging.WARNING):                  # and the guard logs normally afterwards
        assert not bridge.check(PAPER, PAPER_PAIR, "buy", D(9)).allowed
    assert any("buy of 9 blocked" in r.getMessage() for r in caplog.records if r.name == "inventory_guard")
    bridge.close()
