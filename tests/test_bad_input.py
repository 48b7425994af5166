"""Bad input end to end: one clear error (file, key, allowed values), exit code 2, nothing written.

The loaders' own tests (test_territory, test_personas, test_runner's
experiment files, test_cli) check each message in detail; this file covers
the kinds they do not (scenario files, parameter files, overrides) and
checks, through the `fabrique` command, that every kind of bad input stops
*before* anything is written: the ``--out`` folder is never created.
It ends with the output side: an unwritable folder and a disk that fills up
in the middle of a run or a sweep (simulated ENOSPC), after which
``--resume`` completes the sweep.
"""
from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import tomli_w
from typer.testing import CliRunner

import simulator
from simulator import params as P
from simulator.cli import app
from simulator.experiment import experiment_from_dict
from simulator.model import FabriqueModel
from simulator.params import ParameterError

cli = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def run_cli(args: list[str], out: Path, *words: str) -> str:
    """`fabrique run ...`: exit 2, one message containing every word, --out never created."""
    r = cli.invoke(app, ["run", "--scale", "0.002", "--end-year", "2018", "--out", str(out)] + args)
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    msg = " ".join(r.output.split())           # rich may wrap long lines
    assert msg.startswith("error:"), msg
    for w in words:
        assert " ".join(w.split()) in msg, (w, msg)
    assert not out.exists(), "bad input must not write anything"
    return msg


def scenario_file(tmp_path: Path, body: str, name: str = "bad.toml") -> Path:
    f = tmp_path / name
    f.write_text('name = "bad"\ndescription = "a broken scenario for the tests"\nextends = "baseline"\n' + body,
                 encoding="utf-8")
    return f


# ------------------------------------------------------------------ scenario files
SCENARIO_CASES = {
    "malformed_toml": ("[params.demography\nfertility_factor = 1", ["malformed TOML"]),
    "unknown_top_key": ('colour = "red"\n', ["unknown key(s) ['colour']", "allowed:", "'extends'"]),
    "unknown_process": ('[params.transport]\nx = { value = 1, source = "assumption: test" }\n',
                        ["unknown process 'params.transport'", "allowed:", "'mobility'"]),
    "unknown_param_key": ('[params.demography]\nfertility = { value = 1.2, source = "assumption: test" }\n',
                          ["params.demography", "unknown parameter 'fertility'", "'fertility_factor'"]),
    "wrong_type": ('[params.demography]\nfertility_factor = { value = "high", source = "assumption: test" }\n',
                   ["key 'fertility_factor'", "expected a number, got 'high'", "values in [0, 3]"]),
    "int_expected": ('[params.labour]\nmatching_rounds = { value = 2.5, source = "assumption: test" }\n',
                     ["key 'matching_rounds'", "expected a whole number", "values in [1, 20]"]),
    "out_of_range": ('[params.mobility]\nroad_capacity_scale = { value = 50.0, source = "assumption: test" }\n',
                     ["key 'road_capacity_scale'", "above the maximum", "values in [0.1, 5]"]),
    "below_range": ('[params.demography]\nnet_migration = { value = -1e7, source = "assumption: test" }\n',
                    ["key 'net_migration'", "below the minimum", "unit 'persons/yr'"]),
    "unit_in_override": ('[params.demography]\nnet_migration = { value = 10, unit = "persons/month", '
                         'source = "assumption: test" }\n',
                         ["key 'net_migration'", "value = ..., source"]),
    "missing_source": ('[params.demography]\nfertility_factor = { value = 1.2, source = "" }\n',
                       ["key 'fertility_factor'", "'source' must name"]),
    "unknown_engagement": ("[engagements.e99_moon]\n",
                           ["unknown engagement 'engagements.e99_moon'", "allowed:", "'e2_alternatives'"]),
    "engagement_key": ("[engagements.e2_alternatives]\nspeed = 3\n",
                       ["engagements.e2_alternatives", "unknown key(s) ['speed']", "'intensity'"]),
    "engagement_range": ("[engagements.e2_alternatives]\nintensity = 7\n",
                         ["engagements.e2_alternatives", "'intensity'", "[0, 2]"]),
    "bad_year": ("end_year = 2100\n", ["key 'end_year'", "[2017, 2060]"]),
    "unknown_extends": (None, ["unknown scenario 'atlantis'", "baseline"]),
}


@pytest.mark.parametrize("case", sorted(SCENARIO_CASES))
def test_bad_scenario_file(tmp_path, case):
    body, words = SCENARIO_CASES[case]
    if body is None:
        f = tmp_path / "bad.toml"
        f.write_text('name = "bad"\ndescription = "x"\nextends = "atlantis"\n', encoding="utf-8")
    else:
        f = scenario_file(tmp_path, body)
    words = words if case == "unknown_extends" else [str(f)] + words
    run_cli(["--scenario", str(f)], tmp_path / "out", *words)


def test_scenario_extends_cycle(tmp_path):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text(f'name = "a"\ndescription = "x"\nextends = "{b}"\n', encoding="utf-8")
    b.write_text(f'name = "b"\ndescription = "x"\nextends = "{a}"\n', encoding="utf-8")
    run_cli(["--scenario", str(a)], tmp_path / "out", "'extends' forms a cycle")


def test_unknown_scenario_name_everywhere(tmp_path):
    run_cli(["--scenario", "atlantis"], tmp_path / "out", "unknown scenario 'atlantis'", "fabrique2040")
    with pytest.raises(ParameterError, match=r"unknown scenario 'atlantis'.*baseline"):
        simulator.run("atlantis", scale=0.002)
    with pytest.raises(ParameterError, match=r"scenario file 'nowhere/x\.toml' not found"):
        FabriqueModel("nowhere/x.toml", scale=0.002)


# ------------------------------------------------------------------ parameter files (scenarios/params)
@pytest.fixture()
def params_copy(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "params"
    shutil.copytree(P.params_dir(), d)
    monkeypatch.setattr(P, "params_dir", lambda: d)
    return d


def _edit_toml(path: Path, fn) -> None:
    import tomllib
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    fn(data)
    path.write_text(tomli_w.dumps(data), encoding="utf-8")


def test_param_file_wrong_unit(tmp_path, params_copy):
    f = params_copy / "demography.toml"
    _edit_toml(f, lambda d: d["net_migration"].update(unit="persons/month"))
    run_cli([], tmp_path / "out", str(f), "key 'net_migration'", "unit 'persons/month' does not match",
            "allowed: unit 'persons/yr'")


def test_param_file_unknown_and_missing_key(tmp_path, params_copy):
    f = params_copy / "labour.toml"
    _edit_toml(f, lambda d: d.update(speed_of_light={"value": 3e8, "unit": "m/s", "source": "assumption: x"}))
    run_cli([], tmp_path / "out", str(f), "unknown key(s) ['speed_of_light']", "allowed keys:", "'separation_rate'")
    _edit_toml(f, lambda d: (d.pop("speed_of_light"), d.pop("separation_rate")))
    run_cli([], tmp_path / "out", str(f), "missing key(s) ['separation_rate']")


def test_param_file_out_of_range_and_wrong_type(tmp_path, params_copy):
    f = params_copy / "housing.toml"
    _edit_toml(f, lambda d: d["mortgage_rate"].update(value=0.9))
    run_cli([], tmp_path / "out", str(f), "key 'mortgage_rate'", "above the maximum", "values in [0, 0.2]")
    _edit_toml(f, lambda d: d["mortgage_rate"].update(value=[0.01]))
    run_cli([], tmp_path / "out", str(f), "key 'mortgage_rate'", "expected a number")


def test_param_file_malformed(tmp_path, params_copy):
    f = params_copy / "mobility.toml"
    f.write_text(f.read_text(encoding="utf-8") + "\n[broken\n", encoding="utf-8")
    run_cli([], tmp_path / "out", str(f), "malformed TOML")


# ------------------------------------------------------------------ territory and personas, through the CLI
@pytest.fixture()
def territory_copy(tmp_path, monkeypatch) -> Path:
    from simulator import territory as T
    d = tmp_path / "territory"
    shutil.copytree(T.default_folder(), d)
    monkeypatch.setattr(T, "default_folder", lambda: d)
    return d


@pytest.fixture()
def personas_copy(tmp_path, monkeypatch) -> Path:
    from simulator import personas as PS
    d = tmp_path / "personas"
    d.mkdir()
    for f in PS.default_folder().glob("*.toml"):
        shutil.copy(f, d / f.name)
    monkeypatch.setattr(PS, "default_folder", lambda: d)
    return d


def test_disconnected_pole_stops_the_run(tmp_path, territory_copy):
    f = territory_copy / "links.toml"
    _edit_toml(f, lambda d: d.update(road=[r for r in d["road"] if "Z23" not in (r["from"], r["to"])]))
    run_cli([], tmp_path / "out", str(f), "not connected", "Z23")


def test_negative_capacity_stops_the_run(tmp_path, territory_copy):
    f = territory_copy / "links.toml"
    _edit_toml(f, lambda d: d["road"][2].update(capacity_veh_h=-100.0))
    run_cli([], tmp_path / "out", str(f), "capacity_veh_h", "allowed")


def test_missing_persona_stops_the_run(tmp_path, personas_copy):
    (personas_copy / "malika.toml").unlink()
    run_cli([], tmp_path / "out", "missing persona file", "malika.toml")


def test_persona_in_a_missing_pole_stops_the_run(tmp_path, personas_copy):
    f = personas_copy / "nicolas.toml"
    f.write_text(f.read_text(encoding="utf-8").replace('home_pole = { value = "Z23"', 'home_pole = { value = "Z99"'),
                 encoding="utf-8")
    run_cli([], tmp_path / "out", "nicolas.toml", "home_pole", "Z99", "Z01")


# ------------------------------------------------------------------ Python API overrides
@pytest.mark.parametrize("ov, words", [
    ({"transport": {"x": 1}}, ["overrides: unknown process 'transport'", "'mobility'"]),
    ({"labour": {"speed": 1}}, ["overrides.labour", "unknown parameter 'speed'", "'separation_rate'"]),
    ({"labour": {"separation_rate": "fast"}}, ["overrides.labour", "'separation_rate'", "expected a number",
                                               "values in [0, 1]"]),
    ({"labour": {"separation_rate": 2.0}}, ["'separation_rate'", "above the maximum", "unit '1/yr'"]),
    ({"labour": {"separation_rate": float("nan")}}, ["'separation_rate'", "not a finite number"]),
])
def test_bad_overrides(ov, words):
    with pytest.raises(ParameterError) as info:
        FabriqueModel("baseline", scale=0.002, overrides=ov)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_bad_scale_and_years():
    with pytest.raises(ParameterError, match=r"scale must be in \(0, 1\]"):
        FabriqueModel("baseline", scale=0.0)
    with pytest.raises(ParameterError, match="end_year 2016 is before start_year 2017"):
        FabriqueModel("baseline", scale=0.002, end_year=2016)


# ------------------------------------------------------------------ output side
def small_exp(**kw) -> dict:
    """test_runner's small grid sweep, smaller and shorter."""
    from test_runner import small
    return small(**{"name": "diskfull", "description": "disk-full test sweep", "seed": 3, "scale": 0.002,
                    "end_year": 2018, **kw})


def test_unwritable_sweep_store(tmp_path):
    f = tmp_path / "e.toml"
    f.write_text(tomli_w.dumps(small_exp()), encoding="utf-8")
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    r = cli.invoke(app, ["sweep", str(f), "--out", str(blocker / "store"), "--workers", "1"])
    assert r.exit_code == 2 and "is a file, not a folder" in r.output
    r = cli.invoke(app, ["sweep", str(f), "--out", "/proc/fabrique-store", "--workers", "1"])
    assert r.exit_code == 2 and "not writable" in r.output


class _DiskFull:
    """Make the n-th call (1-based) of DataFrame.to_parquet and every later one fail with ENOSPC."""

    def __init__(self, monkeypatch, fail_from: int) -> None:
        self.calls, self.fail_from = 0, fail_from
        real = pd.DataFrame.to_parquet

        def to_parquet(df, path, *a, **k):
            self.calls += 1
            if self.calls >= self.fail_from:
                Path(path).write_bytes(b"PAR1 half a file")      # a partial file, as a real full disk leaves
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            return real(df, path, *a, **k)
        monkeypatch.setattr(pd.DataFrame, "to_parquet", to_parquet)


def test_disk_full_during_run_writes_nothing(tmp_path, monkeypatch):
    _DiskFull(monkeypatch, fail_from=2)           # metrics.parquet written, personas.parquet fails
    out = tmp_path / "deep" / "run"
    msg = run_cli([], out, str(out), "No space left on device", "ENOSPC")
    assert "Traceback" not in msg
    assert not (tmp_path / "deep").exists()


def test_disk_full_into_an_existing_folder_keeps_the_old_result(tmp_path, monkeypatch):
    from simulator.results import OutputError, read_result, write_result
    res = simulator.run("baseline", scale=0.002, seed=1, end_year=2018)
    out = tmp_path / "run"
    write_result(res, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    _DiskFull(monkeypatch, fail_from=3)
    with pytest.raises(OutputError, match="No space left on device"):
        write_result(res, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before      # no temp folder, nothing replaced
    assert len(read_result(out).metrics) == len(res.metrics)


def test_disk_full_during_a_sweep_then_resume_completes(tmp_path, monkeypatch):
    from simulator.runner import StoreWriteError, completed_runs, load_results, sweep
    exp = experiment_from_dict(small_exp())
    out = tmp_path / "store"
    # 3 parquet tables per run: the 2nd run's personas table hits the full disk
    _DiskFull(monkeypatch, fail_from=5)
    with pytest.raises(StoreWriteError) as info:
        sweep(exp, out, backend="inline")
    msg = str(info.value)
    assert str(out) in msg and "No space left on device" in msg and "--resume" in msg and "1 of 4 runs" in msg
    assert len(completed_runs(out)) == 1
    leftovers = [p for d in (out, out / "runs") for p in d.iterdir() if p.name.startswith(".")]
    assert leftovers == [], leftovers                # no partial run folder, the lock is released
    assert not (out / "failed").exists() or not list((out / "failed").iterdir())
    monkeypatch.undo()                               # space is back
    rep = sweep(exp, out, backend="inline", resume=True)
    assert rep.skipped == 1 and rep.done == 3 and rep.failed == 0
    assert len(completed_runs(out)) == 4
    ref = tmp_path / "ref"
    sweep(exp, ref, backend="inline")
    pd.testing.assert_frame_equal(load_results(out), load_results(ref))


def test_disk_full_sweep_through_the_cli(tmp_path, monkeypatch):
    f = tmp_path / "e.toml"
    f.write_text(tomli_w.dumps(small_exp(replicates=1)), encoding="utf-8")
    out = tmp_path / "store"
    _DiskFull(monkeypatch, fail_from=1)
    from simulator import runner
    real_sweep = runner.sweep
    monkeypatch.setattr(runner, "sweep", lambda *a, **k: real_sweep(*a, **{**k, "backend": "inline"}))
    r = cli.invoke(app, ["sweep", str(f), "--out", str(out), "--workers", "1"])
    assert r.exit_code == 2, r.output
    msg = " ".join(r.output.split())
    assert msg.startswith("error:") and "No space left on device" in msg and "--resume" in msg
    assert json.loads((out / "design.json").read_text())["experiment"] == "diskfull"
    assert not [p for p in (out / "runs").iterdir()]
