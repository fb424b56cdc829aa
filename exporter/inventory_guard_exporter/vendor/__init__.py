"""Copies of core modules the exporter needs without importing the core (see README.md here)."""
