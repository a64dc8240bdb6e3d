"""The architecture's arrows, read from the import graph (grimp, which lint-imports uses) and run once against a
deliberately bad import: the contracts in pyproject.toml hold, and they would catch what they promise to."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("webadmit_dash", cache_dir=None)  # no cache folder left in the tree


def imports_between(graph: grimp.ImportGraph, importer: str, imported: str) -> set[tuple[str, str]]:
    return {
        (found["importer"], found["imported"])
        for found in graph.find_matching_direct_imports(import_expression=f"{importer}.** -> {imported}.**")
    } | {
        (found["importer"], found["imported"])
        for found in graph.find_matching_direct_imports(import_expression=f"{importer}.** -> {imported}")
    }


def test_notifications_import_nothing_of_the_pages(graph):
    """Feature apps sit beside one another: what both use is in `shared`, below them."""
    assert imports_between(graph, "webadmit_dash.notifications", "webadmit_dash.web") == set()
    assert imports_between(graph, "webadmit_dash.web", "webadmit_dash.notifications") == set()


def test_operations_read_the_engine_only_through_its_doors(graph):
    doors = {"webadmit_dash.engine.terms", "webadmit_dash.engine.on_demand", "webadmit_dash.engine.downloads"}
    reached = {imported for _, imported in imports_between(graph, "webadmit_dash.ops", "webadmit_dash.engine")}
    assert reached <= doors


def test_the_pages_measure_lateness_against_the_engines_own_longest_cadence():
    from webadmit_dash.engine import terms  # imported here: once a copy, the engine had no door for it
    from webadmit_dash.web import freshness

    assert freshness.LONGEST_CADENCE is terms.LONGEST_CADENCE
    assert terms.LONGEST_CADENCE == terms.MAX_INTERVAL * (1 + terms.JITTER)


@pytest.fixture
def product_copy(tmp_path: Path) -> Path:
    """The package and its contracts, copied: a test may add a bad import without touching the real tree."""
    shutil.copytree(ROOT / "webadmit_dash", tmp_path / "webadmit_dash", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(folder: Path) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"]
    return subprocess.run(
        command, cwd=folder, env={"PYTHONPATH": str(folder)}, capture_output=True, text=True, timeout=120
    )


def add_line(module: Path, line: str) -> None:
    module.write_text(f"{line}\n{module.read_text()}")


def test_a_simulator_importing_any_part_of_the_product_breaks_the_contracts(product_copy):
    add_line(product_copy / "webadmit_dash/simulator/data.py", "from webadmit_dash.accounts import groups")
    linted = lint_imports(product_copy)
    assert linted.returncode != 0
    assert "The simulator imports nothing of the product BROKEN" in linted.stdout
    assert "webadmit_dash.simulator.data -> webadmit_dash.accounts.groups" in linted.stdout


def test_an_app_without_a_place_in_the_layers_breaks_the_contracts(product_copy):
    (product_copy / "webadmit_dash/unplaced_app").mkdir()
    (product_copy / "webadmit_dash/unplaced_app/__init__.py").write_text("")
    linted = lint_imports(product_copy)
    assert linted.returncode != 0
    assert "webadmit_dash.unplaced_app" in linted.stdout


def test_the_real_tree_keeps_every_contract():
    linted = lint_imports(ROOT)
    assert linted.returncode == 0, linted.stdout


def test_no_page_view_imports_another(graph):
    """What views share (the answer to a button, the events it raises) is in web.answers, not in a view."""
    views = {module for module in graph.find_descendants("webadmit_dash.web.views")}
    between = {
        (importer, imported)
        for importer in views
        for imported in graph.find_modules_directly_imported_by(importer)
        if imported in views
    }
    assert between == set()


def test_the_metrics_count_identities_in_the_pages_own_freshness_states():
    """A status vocabulary is a type (freshness.SourceState) that the metrics read, not a second list of words."""
    from typing import get_args

    from webadmit_dash.ops import metrics
    from webadmit_dash.web import freshness

    assert metrics.IDENTITY_STATES == get_args(freshness.SourceState) == ("ok", "late", "error", "paused", "new")


def test_the_type_check_is_strict():
    with (ROOT / "pyproject.toml").open("rb") as config:
        assert tomllib.load(config)["tool"]["mypy"]["strict"] is True
