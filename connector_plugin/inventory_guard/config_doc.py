"""The config key tables of the READMEs, generated from the models that declare the keys.

``python -m inventory_guard.config_doc`` prints the generated sections; ``--write`` puts them into the READMEs of
a source checkout, between the marker comments ``<!-- BEGIN GENERATED: <name> -->`` and
``<!-- END GENERATED: <name> -->``: ``connector_plugin/README.md`` has the guard's keys (``config-keys``, from
``GuardConfig``) and the Hummingbot ``inventory_guard:`` section (``hummingbot-config-keys``, from
``InventoryGuardSettings``; needs the ``hummingbot`` extra), ``exporter/README.md`` the exporter's keys
(``exporter-config-keys``, from ``ExporterConfig``). ``tests/test_config_doc.py`` fails, naming the key, when a
README and the models differ.
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from annotated_types import Ge, Gt, Le, Lt
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .config import GuardConfig, Shown, per_market

ROOT = Path(__file__).resolve().parents[2]  # the repository (a source checkout)
WRITE_COMMAND = "PYTHONPATH=connector_plugin:exporter python -m inventory_guard.config_doc --write"


def _text(value) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "`true`", False: "`false`", None: "`null`"}[value]
    return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"


_BOUNDS = ((Gt, ">", "gt"), (Ge, "≥", "ge"), (Lt, "<", "lt"), (Le, "≤", "le"))


def _bounds(metadata) -> str:
    return " and ".join(f"{sign} {getattr(m, name)}" for m in metadata for kind, sign, name in _BOUNDS
                        if isinstance(m, kind))


def type_text(field: FieldInfo) -> str:
    """``decimal > 0``, ``integer ≥ 1 and ≤ 1024``, ``text or `null```...: what a key accepts, from its type."""
    annotation, metadata, nullable = field.annotation, list(field.metadata), False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable, (annotation,) = True, args
    if typing.get_origin(annotation) is typing.Annotated:
        annotation, *more = typing.get_args(annotation)
        metadata += more
    shown = next((m for m in metadata if isinstance(m, Shown)), None)
    origin = typing.get_origin(annotation)
    if shown is not None:
        text = str(shown)
    elif origin is typing.Literal:
        text = " or ".join(f"`{v}`" for v in typing.get_args(annotation))
    elif origin is list:
        text = "list of text"
    elif origin is dict:
        text = "mapping"
    else:
        names: dict[object, str] = {
            bool: "`true` or `false`", int: "integer", float: "number", Decimal: "decimal", str: "text"}
        text = " ".join(filter(None, [names[annotation], _bounds(metadata)]))
    return f"{text} or `null`" if nullable else text


def default_text(field: FieldInfo) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    return _text(field.get_default(call_default_factory=True))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(fields: dict[str, FieldInfo], per_market_keys: tuple | None = None) -> str:
    """A Markdown table of ``fields``: key, type, default (, per market), description."""
    head = ["key", "type", "default"] + (["per market"] if per_market_keys is not None else []) + ["description"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, field in fields.items():
        row = [f"`{key}`", type_text(field), default_text(field)]
        if per_market_keys is not None:
            row.append("yes" if key in per_market_keys else "")
        row.append(field.description or "")
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines)


def guard_keys() -> str:
    keys = tuple(key for key, field in GuardConfig.model_fields.items() if per_market(field))
    return table(GuardConfig.model_fields, keys)


def hummingbot_keys() -> str:
    from .hummingbot.config import InventoryGuardMarketSettings, InventoryGuardSettings
    return table(InventoryGuardSettings.model_fields, tuple(InventoryGuardMarketSettings.model_fields))


def exporter_keys() -> str:
    from inventory_guard_exporter.config import ExporterConfig
    return table(ExporterConfig.model_fields)


def rows(section_text: str) -> dict[str, str]:
    """A generated table's lines by key (the first cell; the header and rule lines under their own text)."""
    return {line.split("|")[1].strip(" `") if line.startswith("| `") else line: line
            for line in section_text.splitlines() if line.startswith("|")}


def drifted_keys(current: str, generated: str) -> list[str]:
    """The keys whose rows differ between a README's section and the generated one (missing or extra included)."""
    have, want = rows(current), rows(generated)
    return [key for key in {**want, **have} if have.get(key) != want.get(key)]


@dataclass(frozen=True)
class Section:
    readme: str             # relative to the repository
    name: str               # the marker's name
    render: Callable[[], str]

    def markers(self) -> tuple[str, str]:
        return f"<!-- BEGIN GENERATED: {self.name} -->", f"<!-- END GENERATED: {self.name} -->"

    def generated(self) -> str:
        return self.render().strip() + "\n"

    def current(self, text: str) -> str:
        """The section as the README has it (ValueError when its markers are missing)."""
        begin, end = self.markers()
        if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
            raise ValueError(f"{self.readme}: expected one {begin} ... {end} pair")
        return text[text.index(begin) + len(begin):text.index(end)].strip("\n") + "\n"

    def rewrite(self, text: str) -> str:
        begin, end = self.markers()
        self.current(text)
        return f"{text[:text.index(begin)]}{begin}\n\n{self.generated()}\n{text[text.index(end):]}"


SECTIONS = (
    Section("connector_plugin/README.md", "config-keys", guard_keys),
    Section("connector_plugin/README.md", "hummingbot-config-keys", hummingbot_keys),
    Section("exporter/README.md", "exporter-config-keys", exporter_keys),
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m inventory_guard.config_doc", description=__doc__.split("\n")[0])
    p.add_argument("--write", action="store_true", help="rewrite the generated sections of the READMEs")
    args = p.parse_args(argv)
    for section in SECTIONS:
        if not args.write:
            begin, end = section.markers()
            print(f"{begin}\n{section.generated()}{end}\n")
            continue
        path = ROOT / section.readme
        path.write_text(section.rewrite(path.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"{section.readme}: {section.name} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
