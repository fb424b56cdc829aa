"""pytest fixtures shared by the test modules (helpers that are not fixtures live in the ``support`` package).

* ``hb_env``: a Hummingbot root made by ``init_root`` (scripts/, controllers/, conf/) under ``tmp_path``, with
  ``MarketsRecorder`` and ``HummingbotApplication.main_application()`` stubbed, Hummingbot's conf dirs pointed at
  the root, the root on sys.path and the CWD there (the V2 loader resolves ``scripts/`` against the CWD); yields
  the root.
"""

from __future__ import annotations

import os
import sys
from unittest.mock import MagicMock, patch

import pytest
from hypothesis import settings as hypothesis_settings

hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture
def hb_env(tmp_path, monkeypatch):
    from hummingbot.client import settings
    from hummingbot.connector.markets_recorder import MarketsRecorder

    from inventory_guard.hummingbot.install import init_root
    root = tmp_path / "hbroot"
    (root / "conf").mkdir(parents=True)
    init_root(root)
    rec = MagicMock()
    rec.get_all_executors.return_value = []
    rec.get_all_positions.return_value = []
    monkeypatch.setattr(MarketsRecorder, "_shared_instance", rec)
    monkeypatch.setattr(settings, "CONTROLLERS_CONF_DIR_PATH", root / "conf" / "controllers")
    monkeypatch.setattr(settings, "SCRIPT_STRATEGY_CONF_DIR_PATH", root / "conf" / "scripts")
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    for name in [m for m in sys.modules if m == "scripts" or m.startswith(("scripts.", "controllers"))]:
        monkeypatch.delitem(sys.modules, name)
    with patch("hummingbot.client.hummingbot_application.HummingbotApplication.main_application",
               return_value=MagicMock(_mqtt=None)):
        yield root
