"""Determinism and provenance: a pinned reference run, byte-identical across processes.

The fingerprint of ``simulator.run("baseline", scale=0.003, seed=7,
end_year=2020)`` is pinned in tests/reference_hash.json with the reason of
its last change. When a change is *meant* to move the outputs, regenerate
it deliberately::

    python3 -m tests.update_reference --reason "what changed and why"

and give the same reason in the commit message. The sha256 of the
metrics.parquet bytes is compared when the Parquet/pandas versions are those
the file was made with (the writer stamps its version in the file); the
content hash of every table is compared always.
Byte-identity across backends (pool, Dask) is tested in test_runner.
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest

import update_reference as U

HOW = ("if the change of outputs is deliberate, regenerate the reference with "
       "`python3 -m tests.update_reference --reason '...'` and give the reason in the commit")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The reference run made twice, each in its own fresh interpreter."""
    d = tmp_path_factory.mktemp("reference")
    return U.reference_run(d / "a"), U.reference_run(d / "b")


def test_reference_file_is_documented():
    ref = U.load_reference()
    assert ref["run"] == U.REFERENCE
    assert isinstance(ref["reason"], str) and len(ref["reason"].strip()) >= 10
    assert re.fullmatch(r"[0-9a-f]{64}", ref["metrics_parquet_sha256"])
    assert set(ref["content_sha256"]) == set(U.TABLES)


def test_reference_run_matches_the_pinned_hash(two_runs):
    ref = U.load_reference()
    fp = U.fingerprint(two_runs[0])
    assert fp["content_sha256"] == ref["content_sha256"], \
        f"the reference run's tables changed (pinned because: {ref['reason']!r}); {HOW}"
    libs = U.library_versions()
    if {k: libs[k] for k in ("pandas", "pyarrow")} == {k: ref["libraries"][k] for k in ("pandas", "pyarrow")}:
        assert fp["metrics_parquet_sha256"] == ref["metrics_parquet_sha256"], \
            f"metrics.parquet bytes changed with the same pandas/pyarrow; {HOW}"


def test_same_inputs_give_byte_identical_files_across_processes(two_runs):
    a, b = two_runs
    for t in U.TABLES:
        assert hashlib.sha256((a / f"{t}.parquet").read_bytes()).digest() == \
            hashlib.sha256((b / f"{t}.parquet").read_bytes()).digest(), t
    for f in ("marginals.json", "territory.json"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    ma, mb = (json.loads((x / "manifest.json").read_text()) for x in (a, b))
    volatile = {"wall_time_s", "wall_time_total_s", "created"}
    assert {k: v for k, v in ma.items() if k not in volatile} == {k: v for k, v in mb.items() if k not in volatile}


def test_outputs_are_stamped_with_provenance(two_runs):
    import simulator
    from simulator.scenario import load_scenario, resolved_params, scenario_hash
    man = json.loads((two_runs[0] / "manifest.json").read_text())
    assert man["package"] == "fabrique2040" and man["version"] == simulator.__version__
    assert man["scenario"] == "baseline" and man["scenario_chain"] == ["baseline"]
    assert (man["seed"], man["scale"], man["start_year"], man["end_year"]) == (7, 0.003, 2017, 2020)
    assert re.fullmatch(r"[0-9a-f]{16}", man["scenario_hash"])
    sc = load_scenario("baseline")
    assert man["scenario_hash"] == scenario_hash(sc, resolved_params(sc))
    assert man["python"] and man["created"] and man["wall_time_total_s"] > 0
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True)
    if head.returncode == 0:
        assert man["git_commit"] == head.stdout.strip()


def test_scenario_hash_changes_with_any_parameter():
    from simulator.model import FabriqueModel
    base = FabriqueModel("baseline", scale=0.002, seed=7, end_year=2018).scenario_hash
    other = FabriqueModel("baseline", scale=0.002, seed=7, end_year=2018,
                          overrides={"labour": {"separation_rate": 0.05}}).scenario_hash
    assert base != other
