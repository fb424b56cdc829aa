"""Exporter settings: from the command line and/or a YAML file for fleets.

``ExporterConfig`` declares every YAML key once (type, default, ``Field(description=...)``); the key table of
``exporter/README.md`` is generated from it (``python -m inventory_guard.config_doc``). All keys are optional and
unknown keys are an error; the file is read as strict YAML like the guard's config (UTF-8, no duplicate keys,
YAML 1.2 scalars — see ``strict_yaml``)::

    listen: 127.0.0.1:9464
    journal_globs:
      - /var/lib/bots/*/guard.sqlite

A key renamed since an earlier version (``RENAMED_KEYS``) is an error naming its new name.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from inventory_guard_exporter.vendor import strict_yaml
from inventory_guard_exporter.vendor.numbers import refuse_rejected

DEFAULT_LISTEN = "127.0.0.1:9464"
# Keys of earlier versions -> their names now (the journals are called journals everywhere, durations end in _s).
RENAMED_KEYS = {"state": "journals", "state_dirs": "journal_globs", "busy_timeout_seconds": "busy_timeout_s"}


class ConfigError(Exception):
    """A configuration problem, with a message meant for the person running the exporter."""


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` -> (host, port). The host is required: there is no implicit "all interfaces"."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"listen address {value!r} must be host:port, e.g. 127.0.0.1:9464 (or 0.0.0.0:9464)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"listen address {value!r}: {host!r} is not an IPv6 address") from None
    elif ":" in host:
        raise ValueError(f"listen address {value!r}: write IPv6 hosts in brackets, e.g. [::1]:9464")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"listen address {value!r}: port must be a number from 0 to 65535")
    return host, int(port_text)


class ExporterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    listen: str = Field(DEFAULT_LISTEN, description=(
        "`host:port` to serve on; `[::1]:9464` for IPv6. The host is required: binding beyond loopback "
        "(`0.0.0.0:9464`) is an explicit choice."))
    journals: list[str] = Field(default_factory=list, description=(
        "Journal paths; a missing one is reported as `journal_up 0`, not dropped."))
    journal_globs: list[str] = Field(default_factory=list, description=(
        "Glob patterns of journals, expanded at every scrape (a new bot shows up without a restart)."))
    openmetrics: bool = Field(False, strict=True, description=(  # true/false, not 1 or "yes"
        "`true`: answer OpenMetrics whenever the client offers it (else only when it insists)."))
    busy_timeout_s: float = Field(0.5, gt=0, le=60, strict=True, description=(  # a number, not `true`
        "How long a scrape waits for a locked journal before reporting it as `journal_up 0` (seconds)."))
    log_level: str = Field("INFO", description="`DEBUG`, `INFO`, `WARNING` or `ERROR`.")

    @field_validator("*", mode="before")
    @classmethod
    def _rejected_literal(cls, value):
        return refuse_rejected(value)

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        parse_listen(value)
        return value

    @field_validator("journals", "journal_globs")
    @classmethod
    def _no_empty_paths(cls, value: list[str]) -> list[str]:
        if any(not v.strip() for v in value):
            raise ValueError("paths must not be empty")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("log_level must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @property
    def address(self) -> tuple[str, int]:
        return parse_listen(self.listen)


def _describe(error: ValidationError) -> str:
    lines = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  {where}: {e['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def validate(data: dict, source: str) -> ExporterConfig:
    renamed = [f"  {old}: was renamed to {new}" for old, new in RENAMED_KEYS.items() if old in data]
    if renamed:
        raise ConfigError(f"{source}: invalid exporter configuration:\n" + "\n".join(renamed))
    try:
        return ExporterConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: invalid exporter configuration:\n{_describe(exc)}") from None


def load_yaml(path: str) -> dict:
    try:
        data = strict_yaml.load(Path(path))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from None
    except strict_yaml.StrictYAMLError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping of keys (listen, journals, journal_globs, ...)")
    return data
