"""The READMEs' config key tables are the ones generated from the models (GuardConfig, InventoryGuardSettings,
ExporterConfig): a key added, renamed, re-typed, re-defaulted or re-described in a model without regenerating the
tables fails here, naming the key."""

from __future__ import annotations

import pytest

from inventory_guard.config_doc import ROOT, SECTIONS, WRITE_COMMAND, drifted_keys, hummingbot_keys

PARAMS = [pytest.param(s, id=s.name, marks=[pytest.mark.hummingbot] if s.render is hummingbot_keys else [])
          for s in SECTIONS]


@pytest.mark.parametrize("section", PARAMS)
def test_the_readme_tables_are_generated_from_the_models(section):
    current = section.current((ROOT / section.readme).read_text(encoding="utf-8"))
    drifted = drifted_keys(current, section.generated())
    assert not drifted, (f"{section.readme}, section {section.name}: the rows of {', '.join(drifted)} differ from "
                         f"the models; rewrite the generated sections with `{WRITE_COMMAND}` (from the repository "
                         f"root)")


def test_a_drifted_row_is_named():
    section = next(s for s in SECTIONS if s.name == "config-keys")
    generated = section.generated()
    edited = generated.replace("| `30` |", "| `60` |")
    assert edited != generated
    missing = "\n".join(line for line in generated.splitlines() if "`seen_fill_keys_max`" not in line)
    assert drifted_keys(edited, generated) == ["pending_fill_max_age_s"]
    assert drifted_keys(missing, generated) == ["seen_fill_keys_max"]
    assert drifted_keys(generated + "| `bogus` | text | `x` |  | not a key |\n", generated) == ["bogus"]


def test_a_section_without_its_markers_is_an_error():
    with pytest.raises(ValueError, match="expected one <!-- BEGIN GENERATED: config-keys -->"):
        SECTIONS[0].current("# a README without the markers\n")
