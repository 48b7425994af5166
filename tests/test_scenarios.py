"""Scenario files and the twelve engagements: loading, clear errors, directions of effects, stories."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from simulator import run
from simulator.cli import app
from simulator.engagements import catalogue, load_catalogue, ramp
from simulator.params import ParameterError
from simulator.scenario import list_scenarios, load_scenario

runner = CliRunner()


def _series(res, metric, group="all"):
    m = res.metrics
    return m[(m.metric == metric) & (m.group == group)].set_index("year")["value"]


def test_catalogue_has_twelve_engagements_in_the_four_vivre():
    cat = catalogue()
    assert sorted(e.number for e in cat.values()) == list(range(1, 13))
    assert {e.vivre for e in cat.values()} == {"mieux", "monde", "ensemble", "art_de_vivre"}
    for e in cat.values():
        assert e.levers and e.outcomes and e.evidence
        for lv in e.levers:
            assert lv.source and lv.unit


def test_shipped_scenarios_are_all_there():
    names = {p.stem for p in list_scenarios()}
    expected = {"baseline", "fabrique2040", "horizon2024", "vivre_mieux", "vivre_monde", "vivre_ensemble",
                "art_de_vivre"} | set(catalogue())
    assert expected <= names
    assert set(load_scenario("fabrique2040").engagements) == set(catalogue())
    assert load_scenario("horizon2024").end_year == 2024


@pytest.mark.parametrize("name", sorted(p.stem for p in list_scenarios()))
def test_each_shipped_scenario_runs(name):
    res = run(name, scale=0.002, seed=3, end_year=2019, strict=True)
    assert res.metrics.year.max() == 2019
    assert res.manifest["scenario"] == name


def test_ramp_is_linear_from_the_start_year():
    assert ramp(2017, 2018, 10) == 0.0
    assert ramp(2018, 2018, 10) == pytest.approx(0.1)
    assert ramp(2027, 2018, 10) == 1.0
    assert ramp(2040, 2018, 10) == 1.0


def test_levers_set_parameters_over_time():
    from simulator.model import FabriqueModel
    m = FabriqueModel("e2_alternatives", scale=0.002, seed=1)
    base = m.params["mobility"]["transit_headway_scale"]
    seen = []
    while m.year < 2032:
        m.step()
        seen.append(m.params["mobility"]["transit_headway_scale"])
    assert base == 1.0 and seen[0] < 1.0 and seen[-1] == pytest.approx(0.5)
    assert all(a >= b for a, b in zip(seen, seen[1:]))
    assert m.params["mobility"]["fare_mode"] == "single_ticket"


def _write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("body, needle", [
    ('name = "x"\ndescription = "d"\ncolour = "red"\n', "unknown key(s) ['colour']"),
    ('name = "x"\ndescription = "d"\n[params.weather]\nrain = { value = 1, source = "assumption: test" }\n',
     "unknown process 'params.weather'"),
    ('name = "x"\ndescription = "d"\n[params.demography]\nnet_migrations = { value = 1, source = "assumption: t" }\n',
     "unknown parameter 'net_migrations'"),
    ('name = "x"\ndescription = "d"\n[params.demography]\nfertility_factor = { value = 9.0, source = "assumption: t" }\n',
     "key 'fertility_factor': 9.0 is above the maximum"),
    ('name = "x"\ndescription = "d"\n[params.demography]\nfertility_factor = { value = "high", source = "assumption: t" }\n',
     "expected a number"),
    ('name = "x"\ndescription = "d"\n[params.demography]\nfertility_factor = { value = 1.0 }\n',
     "must be a table { value = ..., source = \"...\" }"),
    ('name = "x"\ndescription = "d"\n[engagements.e13_moon]\n', "unknown engagement 'engagements.e13_moon'"),
    ('name = "x"\ndescription = "d"\n[engagements.e2_alternatives]\nstart_year = 1990\n',
     "key 'start_year' must be a whole number in [2017, 2060]"),
    ('name = "x"\ndescription = "d"\n[engagements.e2_alternatives]\nintensity = 5\n',
     "key 'intensity' must be a number in [0, 2]"),
    ('name = "x"\ndescription = "d"\n[engagements.e2_alternatives.levers]\n"mobility.tram_colour" = 1\n',
     "unknown lever 'mobility.tram_colour'"),
    ('name = "x"\ndescription = "d"\nextends = "atlantis"\n', "unknown scenario 'atlantis'"),
    ('name = "x"\ndescription = "d"\nend_year = 2016\n', "key 'end_year' must be a year in [2017, 2060]"),
    ('name = "x"\ndescription = "d"\n[params.demography\n', "malformed TOML"),
    ('description = "d"\n', "key 'name' is required"),
])
def test_broken_scenario_files_give_one_clear_message(tmp_path, body, needle):
    p = _write(tmp_path, body)
    with pytest.raises(ParameterError) as exc:
        load_scenario(str(p))
    msg = str(exc.value)
    assert str(p) in msg and needle in msg, msg


def test_extends_cycle_is_refused(tmp_path):
    _write(tmp_path, 'name = "a"\ndescription = "d"\nextends = "b.toml"\n', "a.toml")
    _write(tmp_path, 'name = "b"\ndescription = "d"\nextends = "a.toml"\n', "b.toml")
    with pytest.raises(ParameterError, match="cycle"):
        load_scenario(str(tmp_path / "a.toml"))


def test_user_scenario_extends_and_overrides(tmp_path):
    p = _write(tmp_path, 'name = "mine"\ndescription = "d"\nextends = "e2_alternatives"\n'
                         '[params.demography]\nnet_migration = { value = 0, source = "assumption: test" }\n'
                         '[engagements.e2_alternatives]\nstart_year = 2025\nintensity = 0.5\n')
    sc = load_scenario(str(p))
    assert sc.chain == ["baseline", "e2_alternatives", "mine"]
    assert sc.overrides["demography"]["net_migration"] == 0
    assert sc.engagements["e2_alternatives"]["start_year"] == 2025
    r = runner.invoke(app, ["run", "--scenario", str(p), "--scale", "0.002", "--end-year", "2018",
                            "--out", str(tmp_path / "o"), "--json"])
    assert r.exit_code == 0, r.output


def test_broken_catalogue_is_refused(tmp_path):
    from simulator.engagements import catalogue_path
    text = catalogue_path().read_text().replace('target = "housing.rehab_per_year"', 'target = "housing.rehab_per_decade"', 1)
    p = _write(tmp_path, text, "engagements.toml")
    with pytest.raises(ParameterError, match="housing.rehab_per_decade"):
        load_catalogue(p)


# Engagements whose mapped effect is smaller than the noise of two seeds at scale 0.01 get a larger sample
# (scale, seeds). e9_citizens (3,000 childcare places + 1,500 mentors a year): measured 2026-2032 mean,
# paired by seed, employment_rate@segment=sophie +0.12 pt (se 0.34 pt, 10 seeds, scale 0.01) but +0.46 pt
# (se 0.30) and long_term_unemployed_share -0.27 pt (se 0.23) at scale 0.05 (4 seeds).
# e1_centres: commute_time_min -0.30 min (se 0.11, seeds 1-8, scale 0.01) but +0.13 and -0.08 for seeds 1 and 2.
POWER = {"e9_citizens": (0.05, (1, 2, 3, 4)), "e1_centres": (0.01, (1, 2, 3, 4, 5, 6))}
DEFAULT_SAMPLE = (0.01, (1, 2))


@pytest.fixture(scope="module")
def engagement_runs():
    """Baseline and each single-engagement scenario to 2032: two seeds at scale 0.01, or the POWER sample."""
    out = {}
    for eid in catalogue():
        scale, seeds = POWER.get(eid, DEFAULT_SAMPLE)
        for seed in seeds:
            for scen in ("baseline", eid):
                if (scen, scale, seed) not in out:
                    out[(scen, scale, seed)] = run(scen, scale=scale, seed=seed, end_year=2032)
    return out


@pytest.mark.parametrize("eid", sorted(catalogue(), key=lambda e: catalogue()[e].number))
def test_each_engagement_moves_a_mapped_outcome_in_its_documented_direction(engagement_runs, eid):
    eng = catalogue()[eid]
    scale, seeds = POWER.get(eid, DEFAULT_SAMPLE)
    moved = {}
    for key, direction in eng.outcomes.items():
        metric, group = (key.split("@") + ["all"])[:2]
        diffs = []
        for seed in seeds:
            d = _series(engagement_runs[(eid, scale, seed)], metric, group) \
                - _series(engagement_runs[("baseline", scale, seed)], metric, group)
            diffs.append(d.loc[2026:2032].mean())
        mean = float(np.mean(diffs))
        moved[key] = mean
        if (direction == "up" and mean > 0) or (direction == "down" and mean < 0):
            return
    pytest.fail(f"{eid}: no mapped outcome moved in its documented direction: {moved} vs {eng.outcomes}")


TRANSIT_ONLY = """name = "e2_transit_only"
description = "Engagement 2 with its carpooling and e-bike levers at their baseline values: the transit levers alone."
extends = "baseline"

[engagements.e2_alternatives.levers]
"mobility.carpool_bonus_eur" = 0.0
"mobility.carpool_match_scale" = 1.0
"mobility.ebike_share" = 0.05
"""


def test_transit_levers_go_most_of_the_way_to_doubling_transit_use_in_15_years(tmp_path):
    # Agenda mobilité: x2 in 15 years (FACTS.md MOB-7). Measured at scale 0.01, 2033 (seeds 1-2): the transit
    # levers of engagement 2 alone (frequencies x2, bus lanes, single ticket) x1.47 / x1.50 (x1.63 / x1.51
    # before the demography draws changed: one seed's index moves ~0.1 with the random path), baseline
    # x1.2-1.3; the whole engagement x1.43 / x1.35, because its carpooling levers (platforms, 1.5 EUR per trip)
    # give car-less workers a driver and draw riders away from transit. The model says: most of the way
    # (x1.5), not the booklet's x2. Two seeds averaged.
    from simulator.scenario import load_scenario
    path = tmp_path / "e2_transit_only.toml"
    path.write_text(TRANSIT_ONLY)
    idx = {}
    for name, scen in (("base", "baseline"), ("only", load_scenario(path)), ("whole", "e2_alternatives")):
        idx[name] = sum(_series(run(scen, scale=0.01, seed=s, end_year=2033), "transit_trips_index")
                        for s in (1, 2)) / 2
    assert idx["only"].loc[2033] >= 1.4
    assert idx["only"].loc[2033] > idx["base"].loc[2033] + 0.2
    assert idx["whole"].loc[2033] > idx["base"].loc[2033] + 0.1
    assert (idx["only"].diff().loc[2019:2030] > -0.05).all()  # a steady climb while the levers ramp up


def test_story_numbers_match_the_run(tmp_path):
    from simulator.stories import persona_path, story
    res = run("fabrique2040", scale=0.005, seed=4, end_year=2030)
    names = {p["id"]: p["name"] for p in res.territory["poles"]}
    for lang in ("fr", "en"):
        text = story("sophie", persona_path(res.personas, "sophie"), lang, names, [])
        last = persona_path(res.personas, "sophie").iloc[-1]
        assert names[last.home_pole] in text
        if last.status == "employed" and last.commute_min > 0:
            assert f"{last.commute_min:.0f}" in text
        inc = f"{last.income_eur_month:,.0f}".replace(",", "\u202f" if lang == "fr" else ",")
        assert inc in text, (inc, text)
    assert "2030" in text


def test_story_command_names_engagements_by_counterfactual():
    r = runner.invoke(app, ["story", "sophie", "--scenario", "vivre_ensemble", "--lang", "fr", "--scale",
                            "0.003", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["persona"] == "sophie" and "Sophie" in out["story"]
    assert set(out["engagements"]) <= {"e7_fragile", "e8_housing", "e9_citizens"}
    r = runner.invoke(app, ["story", "zorro"])
    assert r.exit_code == 2 and "unknown persona 'zorro'" in r.output


def test_scenarios_command_lists_descriptions_and_engagements():
    r = runner.invoke(app, ["scenarios", "--json"])
    assert r.exit_code == 0
    rows = {x["name"]: x for x in json.loads(r.output)}
    assert rows["fabrique2040"]["engagements"] == sorted(catalogue())
    assert rows["baseline"]["engagements"] == []


def test_compare_prints_intervals_and_writes_tables(tmp_path):
    r = runner.invoke(app, ["compare", "baseline", "e5_filieres", "--replicates", "2", "--scale", "0.003",
                            "--year", "2040", "--out", str(tmp_path / "c"), "--workers", "1", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    jobs = [x for x in rows if x["metric"] == "jobs" and x["group"] == "all"][0]
    assert jobs["scenario"] == "e5_filieres" and jobs["mean"] > 0 and jobs["low"] <= jobs["mean"] <= jobs["high"]
    assert (tmp_path / "c" / "comparison.parquet").exists()
    groups = {x["group"] for x in rows}
    assert any(g.startswith("segment=") for g in groups) and any(g.startswith("pole=") for g in groups)


def test_coverage_counts_segments():
    r = runner.invoke(app, ["coverage", "--scale", "0.005", "--json"])
    assert r.exit_code == 0
    c = json.loads(r.output)
    assert len(c["segments"]) == 8
    assert sum(s["share"] for s in c["segments"]) == pytest.approx(1.0)
    assert c["poorly_represented"] and 0 < c["well_represented_share"] < 1
