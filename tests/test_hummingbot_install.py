"""``inventory-guard hummingbot init PATH`` (``init_root``): shims and example confs into a Hummingbot root."""
from __future__ import annotations

import pytest

from inventory_guard.hummingbot.install import FILES, InitError, init_root


def test_init_writes_shims_and_confs_and_is_idempotent(tmp_path):
    (tmp_path / "conf").mkdir()
    written = init_root(tmp_path)
    rels = {p.relative_to(tmp_path).as_posix() for p in written}
    assert set(FILES) <= rels
    assert {"scripts/__init__.py", "controllers/__init__.py", "controllers/market_making/__init__.py"} <= rels
    shim = (tmp_path / "scripts" / "inventory_guarded_v2.py").read_text()
    assert "from inventory_guard.hummingbot.script import InventoryGuardedV2, InventoryGuardedV2Config" in shim
    conf = (tmp_path / "conf" / "scripts" / "conf_inventory_guarded_v2_1.yml").read_text()
    assert "script_file_name: inventory_guarded_v2.py" in conf and "inventory_guard:" in conf
    assert init_root(tmp_path) == []                       # nothing to do the second time


def test_init_keeps_existing_files_and_user_packages(tmp_path):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "__init__.py").write_text("# mine\n")
    target = tmp_path / "conf" / "scripts" / "conf_inventory_guarded_v2_1.yml"
    target.parent.mkdir(parents=True)
    target.write_text("edited: true\n")
    with pytest.raises(InitError, match="conf_inventory_guarded_v2_1.yml"):
        init_root(tmp_path)
    assert not (tmp_path / "scripts" / "inventory_guarded_v2.py").exists()   # nothing written on conflict
    init_root(tmp_path, force=True)
    assert "inventory_guard:" in target.read_text()
    assert (tmp_path / "scripts" / "__init__.py").read_text() == "# mine\n"


def test_init_refuses_a_folder_that_is_not_a_hummingbot_root(tmp_path):
    with pytest.raises(InitError, match="does not look like a Hummingbot root"):
        init_root(tmp_path)
    with pytest.raises(InitError, match="not a directory"):
        init_root(tmp_path / "missing")
