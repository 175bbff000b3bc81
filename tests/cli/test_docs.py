"""The README's op table is the registry's, and its first commands are the real ones."""

from __future__ import annotations

from pathlib import Path

from napari_maskprep.cli import ops_markdown

README = Path(__file__).parents[2] / "README.md"


def test_readme_op_table_matches_the_registry():
    text = README.read_text()
    start = text.index("<!-- ops-table")
    start = text.index("\n", start) + 1
    table = text[start:text.index("<!-- /ops-table -->")].strip()
    assert table == ops_markdown(), "regenerate it with `maskprep ops --markdown`"


def test_readme_opens_with_the_demo_and_the_tests():
    commands = README.read_text().split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert commands[0].split("#")[0].strip() == "pip install . && maskprep demo"
    assert commands[1].split("#")[0].strip() == "pip install tox && tox"
