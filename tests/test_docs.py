"""Documentation stays true to the data files."""
from __future__ import annotations

from pathlib import Path

from simulator.sources import markdown

ROOT = Path(__file__).resolve().parent.parent


def test_data_sources_page_is_generated_from_the_data():
    page = (ROOT / "docs" / "data_sources.md").read_text()
    assert page == markdown(), "docs/data_sources.md is stale: run python -m simulator.sources > docs/data_sources.md"


def test_every_parameter_has_a_unit_and_a_source():
    from simulator.params import params_dir, read_toml
    for path in params_dir().glob("*.toml"):
        for key, entry in read_toml(path).items():
            assert entry.get("unit") is not None, (path.name, key)
            src = entry.get("source", "")
            assert len(src) > 10, (path.name, key, src)


def test_readme_commands_exist():
    readme = (ROOT / "README.md").read_text()
    assert "bash .ci/run" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pytest" in ci


def test_engagements_page_is_generated_from_the_catalogue():
    from simulator.sources import engagements_markdown
    page = (ROOT / "docs" / "engagements.md").read_text()
    assert page == engagements_markdown(), "run python -m simulator.sources engagements > docs/engagements.md"
