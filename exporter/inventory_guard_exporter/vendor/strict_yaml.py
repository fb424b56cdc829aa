"""Strict YAML for config files (the guard's and the exporter's): what is written is what is read.

* UTF-8 only (a Latin-1 or UTF-16 file is an error, not mojibake); nesting at most ``MAX_DEPTH`` levels.
* Duplicate keys are an error (PyYAML's default is: the last one wins).
* Scalars follow YAML 1.2: only ``true``/``false`` are booleans (``yes``, ``no``, ``on``, ``off`` are strings);
  an integer is plain decimal digits. YAML 1.1 forms that read as something else than they look (``010`` is 8,
  ``0x10``, ``1_000``, ``1:30`` is 90) and integers longer than ``MAX_LITERAL`` characters become a
  ``RejectedLiteral``, which the config validation reports under the key it sits in.
* No timestamps (a date stays a string) and no merge keys (``<<`` is an ordinary, hence unknown, key).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .numbers import MAX_LITERAL, RejectedLiteral

MAX_DEPTH = 32


class StrictYAMLError(ValueError):
    """The file cannot be read as strict YAML; the message says where and why (no file name)."""


_DECIMAL_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)", re.ASCII)
_DECIMAL_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", re.ASCII)
_SPECIAL_FLOAT = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf"), ".nan": float("nan")}


class StrictLoader(yaml.SafeLoader):
    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise StrictYAMLError(f"line {mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _value in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:
                    continue  # unhashable: SafeConstructor reports it
                if first is not key_node:
                    raise StrictYAMLError(
                        f"line {key_node.start_mark.line + 1}: duplicate key {key!r} "
                        f"(first at line {first.start_mark.line + 1})"
                    )
        return super().construct_mapping(node, deep=deep)


def _construct_int(loader: StrictLoader, node) -> int | RejectedLiteral:
    text = loader.construct_scalar(node)
    if len(text) > MAX_LITERAL:
        return RejectedLiteral(text, f"an integer of {len(text)} characters is out of range")
    if _DECIMAL_INT.fullmatch(text):
        return int(text)
    if re.fullmatch(r"[-+]?0[0-9_]+", text):
        return RejectedLiteral(text, f"{text} is ambiguous (YAML 1.1 reads a leading 0 as octal); write the "
                                     "number without leading zeros, or quote it")
    return RejectedLiteral(text, f"{text} is not a plain decimal integer (YAML 1.1 would read it as "
                                 f"{_yaml11_int(loader, node)}); write digits only, or quote it")


def _yaml11_int(loader: StrictLoader, node):
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)
    except ValueError:
        return "a number"


def _construct_float(loader: StrictLoader, node) -> float | RejectedLiteral:
    text = loader.construct_scalar(node)
    if text.lower() in _SPECIAL_FLOAT:
        return _SPECIAL_FLOAT[text.lower()]  # rejected as not finite by the field's check, naming the key
    if len(text) > MAX_LITERAL:
        return RejectedLiteral(text, f"a number of {len(text)} characters is out of range")
    if _DECIMAL_FLOAT.fullmatch(text):
        return float(text)  # read back through its shortest repr: 0.1 is Decimal("0.1")
    return RejectedLiteral(text, f"{text} is not a plain decimal number (no '_' or ':'); write it plainly, or "
                                 "quote it")


def _construct_text(loader: StrictLoader, node) -> str:  # an explicit !!timestamp tag: the text as written
    return loader.construct_scalar(node)


def _resolvers() -> dict:
    dropped = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:merge",
               "tag:yaml.org,2002:value"}
    table = {first: [(tag, rx) for tag, rx in entries if tag not in dropped]
             for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    boolean = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
    for first in "tTfF":
        table.setdefault(first, []).insert(0, ("tag:yaml.org,2002:bool", boolean))
    return {first: entries for first, entries in table.items() if entries}


StrictLoader.yaml_implicit_resolvers = _resolvers()
StrictLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
StrictLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_text)


def loads(text: str) -> object:
    """Parse strict YAML text; raise StrictYAMLError with the position and the reason."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # StrictLoader is a SafeLoader subclass
    except StrictYAMLError:
        raise
    except yaml.YAMLError as exc:
        raise StrictYAMLError(f"not valid YAML: {exc}") from None
    except RecursionError:
        raise StrictYAMLError(f"nested too deeply (more than {MAX_DEPTH} levels)") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a constructor's own error, e.g. an explicit !!binary tag
        raise StrictYAMLError(f"not valid YAML: {exc}") from None


def read_text(path: str | Path) -> str:
    """A config file's text; raise OSError when unreadable, StrictYAMLError when it is not UTF-8."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        hint = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:64] else ""
        raise StrictYAMLError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}{hint}; save the file as UTF-8"
        ) from None


def load(path: str | Path) -> object:
    return loads(read_text(path))
