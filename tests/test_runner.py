"""Experiments at scale: experiment files, seeds, backends, resumable store (issue 7)."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import simulator
from simulator.cli import app
from simulator.experiment import experiment_from_dict, load_experiment, plan, replicate_seed
from simulator.params import ParameterError
from simulator.results import read_result
from simulator.runner import completed_runs, load_results, sweep

ROOT = Path(__file__).resolve().parents[1]
cli = CliRunner()


def small(**kw) -> dict:
    d = {"name": "small", "description": "test sweep", "seed": 11, "scale": 0.003, "replicates": 2,
         "end_year": 2019, "scenarios": ["baseline"],
         "design": {"type": "grid", "levels": 2,
                    "parameters": {"demography.fertility_factor": {"low": 0.9, "high": 1.3, "unit": "1"}}}}
    d.update(kw)
    return d


def write_exp(path: Path, d: dict) -> Path:
    import tomli_w
    path.write_text(tomli_w.dumps(d))
    return path


def part_hashes(store: Path) -> dict[str, str]:
    return {rid: hashlib.sha256((store / "runs" / rid / "metrics.parquet").read_bytes()).hexdigest()
            for rid in sorted(completed_runs(store))}


# ------------------------------------------------------------------ experiment files
@pytest.mark.parametrize("change, message", [
    ({"colour": "red"}, "unknown key 'colour'"),
    ({"replicates": 0}, "replicates"),
    ({"design": {"type": "grid", "parameters": {"demography.fertility": {"low": 0.9, "high": 1.3, "unit": "1"}}}},
     "unknown parameter 'fertility' of process 'demography'"),
    ({"design": {"type": "grid", "parameters": {"transport.x": {"low": 0, "high": 1, "unit": "1"}}}},
     "unknown process 'transport'"),
    ({"design": {"type": "grid", "parameters": {"demography.fertility_factor":
                                                {"low": 0.9, "high": 1.3, "unit": "%"}}}},
     "unit '%' does not match"),
    ({"design": {"type": "grid", "parameters": {"demography.fertility_factor":
                                                {"low": 0.9, "high": 9.0, "unit": "1"}}}},
     "above the maximum"),
    ({"design": {"type": "lhs", "n": 8, "parameters": {"demography.fertility_factor":
                                                       {"values": [1.0, 1.1], "unit": "1"}}}},
     "'values' lists are for grid designs"),
    ({"design": {"type": "sobol", "n": 6, "parameters": {
        "demography.fertility_factor": {"low": 0.9, "high": 1.3, "unit": "1"},
        "demography.leave_home_rate": {"low": 0.1, "high": 0.2, "unit": "1/yr"}}}}, "power of 2"),
    ({"design": {"type": "grid", "parameters": {"engagement.e2.start_year": {"values": [2020], "unit": "yr"}}}},
     "engagement"),
    ({"scenarios": ["atlantis"]}, "unknown scenario 'atlantis'"),
])
def test_bad_experiment_files_are_refused_clearly(tmp_path, change, message):
    f = write_exp(tmp_path / "bad.toml", small(**change))
    with pytest.raises(ParameterError) as exc:
        load_experiment(f)
    assert str(f) in str(exc.value) and message in str(exc.value)


def test_shipped_experiments_load():
    names = ["transit_doubling_sweep", "sensitivity_main"]
    if all((ROOT / "scenarios" / f"{v}.toml").exists()
           for v in ("vivre_mieux", "vivre_monde", "vivre_ensemble", "art_de_vivre")):
        names.append("compare_vivre")
    for name in names:
        exp = load_experiment(ROOT / "experiments" / f"{name}.toml")
        assert len(plan(exp)) >= 10
    exp = load_experiment(ROOT / "experiments" / "sensitivity_main.toml")
    assert exp.spec.design.type == "sobol" and len(plan(exp)) == 64 * (len(exp.parameters) + 2)


def test_designs_use_declared_ranges_and_types():
    for design in ({"type": "lhs", "n": 7}, {"type": "morris", "n": 3, "levels": 4},
                   {"type": "sobol", "n": 8}):
        d = small(replicates=1)
        d["design"] = dict(design, parameters={
            "demography.fertility_factor": {"low": 0.9, "high": 1.3, "unit": "1"},
            "demography.net_migration": {"low": 0, "high": 8000, "unit": "persons/yr"}})
        runs = plan(experiment_from_dict(d))
        ff = [r["params"]["demography.fertility_factor"] for r in runs]
        assert min(ff) >= 0.9 and max(ff) <= 1.3
        assert len(runs) == {"lhs": 7, "morris": 3 * 3, "sobol": 8 * 4}[design["type"]]
        assert plan(experiment_from_dict(d)) == runs          # seeded: the same design every time


def test_seeds_are_common_across_scenarios_and_points(tmp_path):
    other = tmp_path / "same_as_baseline.toml"
    other.write_text('name = "copy"\ndescription = "baseline again"\nextends = "baseline"\n')
    runs = plan(experiment_from_dict(small(scenarios=["baseline", str(other)], replicates=3)))
    assert len(runs) == 2 * 2 * 3
    for r in runs:
        assert r["seed"] == replicate_seed(11, r["replicate"])
    import numpy as np
    assert replicate_seed(11, 2) == int(np.random.SeedSequence(11).spawn(3)[2].generate_state(1)[0])
    assert len({r["run_id"] for r in runs}) == len(runs)
    per_point = plan(experiment_from_dict(small(replicates=2, seeds="per_point")))
    assert per_point[0]["seed"] != per_point[2]["seed"]        # point 0 vs point 1, replicate 0


# ------------------------------------------------------------------ backends
@pytest.fixture(scope="module")
def serial_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "store"
    rep = sweep(experiment_from_dict(small()), out, workers=1)
    assert rep.backend == "pool" and rep.workers == 1 and rep.done == 4 and rep.failed == 0
    return out


def test_pool_gives_byte_identical_tables(serial_store, tmp_path):
    rep = sweep(experiment_from_dict(small()), tmp_path / "pool", workers=2)
    assert rep.backend == "pool" and rep.done == 4
    assert part_hashes(tmp_path / "pool") == part_hashes(serial_store)
    a, b = load_results(serial_store), load_results(tmp_path / "pool")
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns[:3]) == ["run_id", "point", "demography.fertility_factor"]
    assert set(a["demography.fertility_factor"]) == {0.9, 1.3}


@pytest.mark.timeout(120)
def test_dask_local_cluster_gives_byte_identical_tables(serial_store, tmp_path):
    pytest.importorskip("distributed")
    rep = sweep(experiment_from_dict(small()), tmp_path / "dask", workers=2, cluster="local")
    assert rep.backend == "dask" and rep.done == 4
    assert part_hashes(tmp_path / "dask") == part_hashes(serial_store)


def test_store_layout_and_manifest(serial_store):
    assert (serial_store / "experiment.toml").exists() and (serial_store / "design.json").exists()
    rid = sorted(completed_runs(serial_store))[0]
    res = read_result(serial_store / "runs" / rid)
    exp = res.manifest["experiment"]
    assert exp["run_id"] == rid and "demography.fertility_factor" in exp["params"]
    for key in ("version", "scenario_hash", "seed"):
        assert key in res.manifest
    df = simulator.load_results(serial_store)
    assert df["run_id"].nunique() == 4 and df["seed"].nunique() == 2


def test_reusing_a_store_needs_resume_and_the_same_experiment(serial_store, tmp_path):
    with pytest.raises(ParameterError, match="--resume"):
        sweep(experiment_from_dict(small()), serial_store, workers=1)
    with pytest.raises(ParameterError, match="other settings"):
        sweep(experiment_from_dict(small(seed=12)), serial_store, workers=1, resume=True)
    rep = sweep(experiment_from_dict(small()), serial_store, workers=1, resume=True)
    assert rep.done == 0 and rep.skipped == 4


def boom(params, seed, replicate, scenario):
    """Synthetic model that fails on one design point."""
    if params["x"] > 0.5:
        raise RuntimeError("synthetic failure")
    return {"y": params["x"] + replicate}


def test_failed_runs_are_recorded_and_the_sweep_goes_on(tmp_path):
    d = {"name": "boom", "description": "one point fails", "seed": 1, "scale": 0.01, "replicates": 2,
         "model": "test_runner:boom",
         "design": {"type": "grid", "parameters": {"x": {"values": [0.0, 1.0], "unit": "1"}}}}
    rep = sweep(experiment_from_dict(d), tmp_path / "s", workers=1)
    assert rep.done == 2 and rep.failed == 2
    recs = sorted((tmp_path / "s" / "failed").glob("*.json"))
    assert len(recs) == 2
    assert "synthetic failure" in json.loads(recs[0].read_text())["traceback"]
    assert sorted(load_results(tmp_path / "s")["value"]) == [0.0, 1.0]


# ------------------------------------------------------------------ CLI, kill and resume
def kill_exp(tmp_path: Path) -> Path:
    # 12 runs long enough (~0.4 s each to 2030) that the signal lands while runs remain
    return write_exp(tmp_path / "kill.toml", small(name="kill", replicates=6, end_year=2030))


def test_sweep_and_results_commands(tmp_path):
    f = write_exp(tmp_path / "e.toml", small())
    r = cli.invoke(app, ["sweep", str(f), "--out", str(tmp_path / "s"), "--workers", "1", "--max-runs", "3",
                         "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["done"] == 3
    r = cli.invoke(app, ["sweep", str(f), "--out", str(tmp_path / "s"), "--workers", "1"])
    assert r.exit_code == 2 and "--resume" in r.output
    r = cli.invoke(app, ["sweep", str(f), "--out", str(tmp_path / "s"), "--workers", "1", "--resume", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["done"] == 1
    r = cli.invoke(app, ["results", str(tmp_path / "s"), "--json", "--metric", "population",
                         "--export", str(tmp_path / "all.csv")])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["summary"]["completed"] == 4 and len(out["replicate_stats"]) == 2
    assert len(pd.read_csv(tmp_path / "all.csv")) == len(load_results(tmp_path / "s"))
    r = cli.invoke(app, ["sweep", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "file not found" in r.output


def _default_sigint() -> None:
    # a sweep started from a terminal gets Ctrl-C; a test suite launched in the background (`cmd &` in a
    # non-interactive shell) has SIGINT ignored, which children inherit: give the sweep the terminal's default
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(f: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "simulator.cli", "sweep", str(f), "--out", str(out),
                             "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=_default_sigint)


def _wait_for_parts(out: Path, proc: subprocess.Popen, n: int = 1, timeout: float = 60) -> None:
    t0 = time.time()
    while len(completed_runs(out)) < n:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.time() - t0 < timeout, "no run completed in time"
        time.sleep(0.02)


@pytest.mark.timeout(180)
def test_kill_and_resume_a_real_sweep(tmp_path):
    f = kill_exp(tmp_path)
    out = tmp_path / "killed"
    proc = _start(f, out)
    _wait_for_parts(out, proc)
    os.killpg(proc.pid, signal.SIGKILL)              # the sweep and its workers, at an arbitrary moment
    proc.wait(timeout=30)
    done = completed_runs(out)
    assert 1 <= len(done) < 12
    for rid in done:                                  # every completed part is intact
        res = read_result(out / "runs" / rid)
        assert len(res.metrics) and res.manifest["experiment"]["run_id"] == rid
    r = subprocess.run([sys.executable, "-m", "simulator.cli", "sweep", str(f), "--out", str(out), "--workers",
                        "2", "--resume", "--json"], capture_output=True, text=True, timeout=170)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["skipped"] == len(done) and rep["done"] == 12 - len(done)
    assert not [p for p in (out / "runs").iterdir() if p.name.startswith(".")]
    ref = tmp_path / "uninterrupted"
    sweep(load_experiment(f), ref, workers=2)
    assert part_hashes(out) == part_hashes(ref)
    pd.testing.assert_frame_equal(load_results(out), load_results(ref))


@pytest.mark.timeout(120)
def test_ctrl_c_stops_cleanly_and_resume_completes(tmp_path):
    f = kill_exp(tmp_path)
    out = tmp_path / "interrupted"
    proc = _start(f, out)
    _wait_for_parts(out, proc)
    n0, t0 = len(completed_runs(out)), time.time()
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode == 130, (f"{n0} runs complete at the interrupt, {len(completed_runs(out))} at exit "
                                    f"{time.time() - t0:.1f} s later", proc.stderr.read().decode())
    assert "--resume" in proc.stderr.read().decode()
    assert not (out / ".sweep.lock").exists()
    n = len(completed_runs(out))
    rep = sweep(load_experiment(f), out, workers=2, resume=True)
    assert rep.skipped == n and len(completed_runs(out)) == 12
