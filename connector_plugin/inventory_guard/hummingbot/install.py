"""``inventory-guard hummingbot init PATH``: write the shim script, the shim controller and example confs into an
existing Hummingbot root (a source checkout or a docker volume folder). No hummingbot import here.

Files written (relative to PATH)::

    scripts/inventory_guarded_example.py                    one-line shim -> inventory_guard.hummingbot.example
    scripts/inventory_guarded_v2.py                         one-line shim -> inventory_guard.hummingbot.script
    controllers/market_making/inventory_guarded_pmm.py      one-line shim -> inventory_guard.hummingbot.pmm
    conf/scripts/conf_inventory_guarded_example_1.yml       the example that trades on binance_paper_trade
    conf/scripts/conf_inventory_guarded_v2_1.yml            controllers runner conf (inventory_guard: section)
    conf/controllers/conf_inventory_guarded_pmm_1.yml       example controller conf

Existing identical files are left alone; an existing file with other content is an error unless ``force=True``
(nothing is written in that case).
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

FILES = {
    "scripts/inventory_guarded_example.py": "inventory_guarded_example.py",
    "conf/scripts/conf_inventory_guarded_example_1.yml": "conf_inventory_guarded_example_1.yml",
    "scripts/inventory_guarded_v2.py": "inventory_guarded_v2.py",
    "controllers/market_making/inventory_guarded_pmm.py": "inventory_guarded_pmm.py",
    "conf/scripts/conf_inventory_guarded_v2_1.yml": "conf_inventory_guarded_v2_1.yml",
    "conf/controllers/conf_inventory_guarded_pmm_1.yml": "conf_inventory_guarded_pmm_1.yml",
}
# package markers needed for `import scripts.x` / `controllers.market_making.x` when we create the folders
INIT_FILES = ("scripts/__init__.py", "controllers/__init__.py", "controllers/market_making/__init__.py")
ROOT_MARKERS = ("conf", "scripts", "controllers", "bin/hummingbot.py", "hummingbot")


class InitError(ValueError):
    pass


def template_text(name: str) -> str:
    return resources.files("inventory_guard.hummingbot").joinpath("templates", name).read_text(encoding="utf-8")


def init_root(path, force: bool = False) -> list[Path]:
    """Install the shims and example confs into the Hummingbot root ``path``; return the files written."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise InitError(f"{root}: not a directory (pass an existing Hummingbot root: a source checkout or the "
                        f"folder with conf/ scripts/ controllers/ mounted into the docker container)")
    if not any((root / m).exists() for m in ROOT_MARKERS):
        raise InitError(f"{root}: does not look like a Hummingbot root (none of {', '.join(ROOT_MARKERS)} found)")
    plan = []
    conflicts = []
    for rel, template in FILES.items():
        target = root / rel
        text = template_text(template)
        if target.exists():
            if target.read_text(encoding="utf-8") == text:
                continue
            if not force:
                conflicts.append(str(target))
                continue
        plan.append((target, text))
    if conflicts:
        raise InitError("already exist with other content (use --force to overwrite): " + ", ".join(conflicts))
    for rel in INIT_FILES:
        target = root / rel
        if not target.parent.exists() or not target.exists():
            plan.append((target, ""))
    written = []
    for target, text in plan:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written
