"""Grafana dashboards and Prometheus alert rules for inventory-guard, generated from Python.

Not an installed package: run ``python dashboards/generate.py`` from the repository root to regenerate the committed
``dashboards/*.json`` and ``alert_rules/inventory_guard.rules.yml``.
"""
