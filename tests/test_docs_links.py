"""Every relative link in the repository's Markdown files resolves on GitHub: the file exists and, for a `#anchor`, the
target file has a heading GitHub turns into that anchor.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = sorted(p for p in REPO.rglob("*.md") if not any(part.startswith(".") for part in p.relative_to(REPO).parts))
FENCE = re.compile(r"^ *(```|~~~).*?^ *\1", re.M | re.S)
CODE_SPAN = re.compile(r"`(?:[^`\n]|\n(?![ \t]*\n))*`")  # may span lines, not a blank one
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
LINK_TEXT = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.M)


def prose(text: str) -> str:
    """The text without fenced code blocks (headings and links inside them are not Markdown)."""
    return FENCE.sub("", text)


def anchors(path: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation but '-' and '_' dropped, spaces to '-', repeats numbered."""
    ids: set[str] = set()
    repeats: dict[str, int] = {}
    for heading in HEADING.findall(prose(path.read_text(encoding="utf-8"))):
        text = LINK_TEXT.sub(r"\1", heading)
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        n = repeats.get(slug, 0)
        repeats[slug] = n + 1
        ids.add(slug if n == 0 else f"{slug}-{n}")
    return ids


def relative_links(path: Path) -> list[str]:
    return [t for t in LINK.findall(CODE_SPAN.sub("", prose(path.read_text(encoding="utf-8"))))
            if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_the_component_readmes_are_checked():
    names = {p.relative_to(REPO).as_posix() for p in DOCS}
    assert {"README.md", "connector_plugin/README.md", "exporter/README.md", "dashboards/README.md",
            "alert_rules/README.md"} <= names


def test_heading_ids_follow_github():
    assert anchors(REPO / "connector_plugin" / "README.md") >= {
        "setup-bootstrapsh", "replay-cli-a-public-contract", "the-inventory_guard-section-of-the-script-conf"}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_resolve(doc):
    broken = []
    for target in relative_links(doc):
        file_part, _, anchor = target.partition("#")
        resolved = (doc.parent / file_part).resolve() if file_part else doc
        if not resolved.is_relative_to(REPO) or not resolved.exists():
            broken.append(f"{target}: no such file in the repository")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with this anchor in {resolved.relative_to(REPO)}")
    assert not broken, f"{doc.relative_to(REPO)}: " + "; ".join(broken)
