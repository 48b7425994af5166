"""The `fabrique` command line: happy paths and clear errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from simulator.cli import app

runner = CliRunner()


def test_run_writes_tidy_results(tmp_path):
    out = tmp_path / "run"
    r = runner.invoke(app, ["run", "--scenario", "baseline", "--scale", "0.003", "--seed", "2",
                            "--end-year", "2020", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["last_year"] == 2020 and summary["out"] == str(out)
    met = pd.read_parquet(out / "metrics.parquet")
    assert list(met.columns) == ["scenario", "replicate", "seed", "year", "metric", "group", "value"]
    assert {"population", "households", "population_60plus", "births", "deaths", "net_migration"} <= set(met.metric)
    per = pd.read_parquet(out / "personas.parquet")
    assert per.persona.nunique() == 8
    man = json.loads((out / "manifest.json").read_text())
    for key in ("version", "scenario_hash", "seed", "scale", "wall_time_s", "git_commit"):
        assert key in man


def test_unknown_scenario_is_one_clear_error(tmp_path):
    r = runner.invoke(app, ["run", "--scenario", "atlantis", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2
    assert "unknown scenario 'atlantis'" in r.output and "baseline" in r.output
    assert not (tmp_path / "x").exists()


def test_bad_scale_and_bad_option():
    r = runner.invoke(app, ["run", "--scale", "3"])
    assert r.exit_code == 2 and "--scale must be in (0, 1]" in r.output
    r = runner.invoke(app, ["run", "--seed", "abc"])
    assert r.exit_code == 2


def test_unwritable_output_fails_before_running(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    r = runner.invoke(app, ["run", "--scale", "0.002", "--out", str(blocker / "out")])
    assert r.exit_code == 2 and "is a file, not a folder" in r.output
    r = runner.invoke(app, ["run", "--scale", "0.002", "--out", "/proc/fabrique-out"])
    assert r.exit_code == 2 and "not writable" in r.output
    assert not os.path.exists("/proc/fabrique-out")


def test_population_json_lists_every_marginal():
    r = runner.invoke(app, ["population", "--scale", "0.01", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert all(set(x) == {"marginal", "target", "achieved", "tolerance", "ok"} for x in rows)
    assert all(x["ok"] for x in rows)


def test_personas_json_and_table():
    r = runner.invoke(app, ["personas", "--json"])
    assert r.exit_code == 0
    cards = json.loads(r.output)
    assert [c["id"] for c in cards][:2] == ["sophie", "nicolas"] and len(cards) == 8
    r = runner.invoke(app, ["personas", "--lang", "fr"])
    assert r.exit_code == 0 and "Sophie" in r.output


def test_console_script_is_installed():
    exe = os.path.join(os.path.dirname(sys.executable), "fabrique")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "simulator.cli"]
    r = subprocess.run(cmd + ["--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "run" in r.stdout


def test_report_command_writes_one_html(tmp_path):
    from simulator import run
    from simulator.results import write_result
    write_result(run("baseline", scale=0.002, seed=1, end_year=2019), tmp_path / "runs" / "b1")
    out = tmp_path / "r.html"
    r = runner.invoke(app, ["report", str(tmp_path / "runs"), "-o", str(out), "--lang", "fr"])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert text.count("<html") == 1 and "persona-sophie" in text
    r = runner.invoke(app, ["report", str(tmp_path / "nowhere"), "-o", str(out)])
    assert r.exit_code == 2 and "no such run or sweep folder" in r.output
