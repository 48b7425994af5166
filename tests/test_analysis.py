"""Analyses: replicate statistics, paired differences, Sobol/Morris (SALib), calibration (issue 7)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from simulator import analysis as A
from simulator.cli import app
from simulator.experiment import experiment_from_dict
from simulator.runner import load_results, sweep

PI = float(np.pi)


def linear(params, seed, replicate, scenario):
    """Synthetic model with known elementary effects: mu* = (1, 5, 0) on unit ranges."""
    return {"y": 1.0 * params["a"] + 5.0 * params["b"] + 0.0 * params["c"]}


def test_sobol_indices_of_ishigami_through_the_runner(tmp_path):
    d = {"name": "ishigami", "description": "known Sobol indices", "seed": 3, "scale": 0.01,
         "model": "simulator.analysis:ishigami",
         "design": {"type": "sobol", "n": 256,
                    "parameters": {f"x{i}": {"low": -PI, "high": PI, "unit": "1"} for i in (1, 2, 3)}},
         "outputs": {"tables": ["metrics"]}, "analysis": {"outcomes": ["y"]}}
    rep = sweep(experiment_from_dict(d), tmp_path / "s", workers=2)
    assert rep.done == 256 * 5 and rep.failed == 0
    si = A.sensitivity(tmp_path / "s").set_index("parameter")
    s1, st = np.array([0.3139, 0.4424, 0.0]), np.array([0.5576, 0.4424, 0.2437])
    # within the estimator's own 95 % half-widths (plus a little) of the analytic values
    assert (np.abs(si["S1"].to_numpy() - s1) <= 2 * si["S1_conf"].to_numpy() + 0.02).all()
    assert (np.abs(si["ST"].to_numpy() - st) <= 2 * si["ST_conf"].to_numpy() + 0.02).all()
    np.testing.assert_allclose(si["S1"].to_numpy(), s1, atol=0.1)
    np.testing.assert_allclose(si["ST"].to_numpy(), st, atol=0.15)
    # the store path is exact: same numbers as SALib on the saved design evaluated here
    from SALib.analyze import sobol
    design = json.loads((tmp_path / "s" / "design.json").read_text())
    X = np.array([[r["params"][f"x{i}"] for i in (1, 2, 3)] for r in design["runs"]])
    Y = np.array([A.ishigami({f"x{i}": x[i - 1] for i in (1, 2, 3)})["y"] for x in X])
    direct = sobol.analyze(A._problem(design), Y, calc_second_order=False, num_resamples=200, seed=1)
    np.testing.assert_allclose(si["ST"].to_numpy(), direct["ST"], rtol=1e-12)


def test_morris_on_a_linear_model_through_the_runner(tmp_path):
    d = {"name": "linear", "description": "known elementary effects", "seed": 5, "scale": 0.01,
         "model": "test_analysis:linear",
         "design": {"type": "morris", "n": 10, "levels": 4,
                    "parameters": {k: {"low": 0.0, "high": 1.0, "unit": "1"} for k in "abc"}}}
    sweep(experiment_from_dict(d), tmp_path / "m", workers=1)
    mo = A.morris_indices(tmp_path / "m", "y").set_index("parameter")
    np.testing.assert_allclose(mo["mu_star"].to_numpy(), [1.0, 5.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(mo["sigma"].to_numpy(), [0.0, 0.0, 0.0], atol=1e-9)
    with pytest.raises(Exception, match="sobol design"):
        A.sobol_indices(tmp_path / "m", "y")


def test_replicate_stats_and_paired_differences_on_known_numbers():
    rows = []
    for r, seed in enumerate([11, 12, 13, 14]):
        rows.append(("baseline", r, seed, 2040, "m", "all", 10.0 + r))
        rows.append(("policy", r, seed, 2040, "m", "all", 12.0 + r + (0.1 if r % 2 else -0.1)))
    df = pd.DataFrame(rows, columns=["scenario", "replicate", "seed", "year", "metric", "group", "value"])
    st = A.replicate_stats(df).set_index("scenario")
    assert st.loc["baseline", "mean"] == pytest.approx(11.5) and st.loc["baseline", "n"] == 4
    assert st.loc["baseline", "p05"] == pytest.approx(np.quantile([10, 11, 12, 13], 0.05))
    assert st.loc["baseline", "mean_lo90"] < 11.5 < st.loc["baseline", "mean_hi90"]
    pdiff = A.paired_differences(df, baseline="baseline").iloc[0]
    assert pdiff["n"] == 4 and pdiff["mean_diff"] == pytest.approx(2.0)
    # pairing removes the replicate-to-replicate spread: the interval is tight around 2
    assert 1.8 < pdiff["lo90"] < 2.0 < pdiff["hi90"] < 2.2
    with pytest.raises(Exception, match="baseline scenario 'nope'"):
        A.paired_differences(df, baseline="nope")


def test_common_random_numbers_make_identical_scenarios_differ_by_zero(tmp_path):
    twin = tmp_path / "twin.toml"
    twin.write_text('name = "twin"\ndescription = "the baseline again"\nextends = "baseline"\n')
    d = {"name": "crn", "description": "paired", "seed": 9, "scale": 0.003, "replicates": 2, "end_year": 2019,
         "scenarios": ["baseline", str(twin)], "outputs": {"metrics": ["population", "births"]}}
    sweep(experiment_from_dict(d), tmp_path / "s", workers=2)
    df = load_results(tmp_path / "s")
    assert set(df["metric"]) == {"population", "births"}
    pdiff = A.paired_differences(df, baseline="baseline")
    assert set(pdiff["scenario"]) == {"twin"} and (pdiff["n"] == 2).all()
    assert (pdiff["mean_diff"] == 0).all()


def test_calibration_recovers_known_parameters_on_a_synthetic_target():
    truth = {"p.a": 0.3, "p.b": 1.7}

    def achieved(v):
        return {"sum": v["p.a"] + v["p.b"], "product": v["p.a"] * v["p.b"], "ratio": v["p.a"] / v["p.b"],
                "square": v["p.a"] ** 2}

    target = achieved(truth)

    def evaluate(v):
        got = achieved(v)
        rows = [{"marginal": k, "unit": "share", "target": target[k], "achieved": got[k], "tolerance": 0.01}
                for k in ("sum", "product", "ratio")]
        # a wildly wrong target: the soft-L1 loss keeps it from dragging the fit away
        rows.append({"marginal": "square", "unit": "share", "target": 5.0, "achieved": got["square"],
                     "tolerance": 0.01})
        return rows

    ps = [A.FitParameter("p.a", 0.0, 1.0, x0=0.8), A.FitParameter("p.b", 0.5, 3.0, x0=1.0)]
    res = A.fit(ps, evaluate, targets=["sum", "product", "ratio"], max_evals=200, diff_step=1e-4)
    assert res.values["p.a"] == pytest.approx(0.3, abs=1e-3) and res.values["p.b"] == pytest.approx(1.7, abs=1e-3)
    assert res.loss < 1e-4 < res.initial_loss and all(r["ok"] for r in res.targets)
    robust = A.fit(ps, evaluate, max_evals=300, diff_step=1e-4)       # with the outlier target
    assert robust.values["p.a"] == pytest.approx(0.3, abs=0.05)


def test_calibrate_command_writes_a_scenario_that_runs(tmp_path):
    out = tmp_path / "calibrated.toml"
    r = CliRunner().invoke(app, ["calibrate", "--param", "demography.fertility_factor=0.9:1.3", "--scale", "0.003",
                                 "--max-evals", "3", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    fitted = json.loads(r.output)
    assert "demography.fertility_factor" in fitted["values"] and fitted["targets"]
    from simulator.scenario import load_scenario
    sc = load_scenario(str(out))
    assert sc.chain == ["baseline", "calibrated"]
    assert sc.override_sources["demography"]["fertility_factor"].startswith("calibrated: fabrique calibrate")
    r = CliRunner().invoke(app, ["calibrate", "--param", "demography.nope", "--out", str(tmp_path / "x.toml")])
    assert r.exit_code == 2 and "unknown parameter 'nope'" in r.output
