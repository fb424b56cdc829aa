"""``python -m inventory_guard_exporter`` runs the exporter (same as the ``inventory-guard-exporter`` script)."""

from inventory_guard_exporter.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
