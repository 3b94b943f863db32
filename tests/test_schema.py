"""`forgetscope schema STUDY` and docs/outputs.md: the field tables in the doc are the ones the
schema generates (the end-to-end tests validate each study's smoke summary against the schema)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import assert_one_line_error, run_cli

DOC = Path(__file__).parents[1] / "docs" / "outputs.md"


@pytest.mark.parametrize("study", ["trajectory", "conjugate", "regression"])
def test_schema_command_prints_a_json_schema(study):
    proc = run_cli("schema", study)
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema["properties"]["study"]["const"] == study and "schema_version" in schema["required"]


def test_schema_of_an_unknown_study():
    assert_one_line_error(run_cli("schema", "trajectry"), "unknown study 'trajectry'")


@pytest.mark.parametrize("study", ["trajectory", "conjugate", "regression"])
def test_docs_outputs_carry_the_schema_tables(study):
    from forgetscope.schema import markdown_tables
    from forgetscope.studies.registry import STUDIES

    text = DOC.read_text()
    block = re.search(rf"<!-- schema:{study} -->\n(.*?)<!-- /schema:{study} -->", text, re.S)
    assert block, f"docs/outputs.md has no schema block for {study} (forgetscope schema {study} --markdown)"
    assert block.group(1) == markdown_tables(STUDIES.get(study).summary), \
        f"docs/outputs.md is out of date: paste `forgetscope schema {study} --markdown` between its markers"


@pytest.mark.parametrize("study", ["trajectory", "conjugate", "regression"])
def test_every_summary_field_says_what_it_means(study):
    """docs/outputs.md is a reference: no field of summary.json without its meaning (50 of 98 of the
    trajectory summary's had none)."""
    from forgetscope.schema import markdown_tables
    from forgetscope.studies.registry import STUDIES

    rows = [ln for ln in markdown_tables(STUDIES.get(study).summary).splitlines() if ln.startswith("| `")]
    assert rows
    assert not [r for r in rows if r.endswith("|  |")], "fields without a description"
