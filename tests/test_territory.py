"""Territory: shipped data, skims, and refusal of broken files."""
from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import tomli_w

from simulator.params import ParameterError
from simulator.state import SECTORS
from simulator.territory import default_folder, haversine_km, load_territory


@pytest.fixture(scope="module")
def terr():
    return load_territory()


# ---------------------------------------------------------------- shipped data

def test_poles_and_totals(terr):
    assert terr.n == 23
    assert terr.ids == [f"Z{k:02d}" for k in range(1, 24)]
    assert terr.population.sum() == pytest.approx(1_869_000, rel=0.005)
    assert terr.jobs.sum() == pytest.approx(735_000, rel=0.005)
    assert terr.jobs.shape == (23, len(SECTORS))
    assert terr.dwellings.shape == (23, 3)
    assert np.all(terr.dwellings > 0)
    # Marseille Nord has the highest social-housing share, Marseille Centre the most jobs
    social = terr.dwellings[:, 2] / terr.dwellings.sum(axis=1)
    assert terr.ids[int(social.argmax())] in ("Z02", "Z17")
    assert terr.ids[int(terr.jobs.sum(axis=1).argmax())] == "Z01"
    # aero jobs concentrate at Marignane
    assert terr.ids[int(terr.jobs[:, SECTORS.index("aero_mechanics")].argmax())] == "Z14"
    # income index is a population-weighted relative index
    assert np.average(terr.income_index, weights=terr.population) == pytest.approx(1.0, abs=0.01)


def test_every_key_has_unit_and_source(terr):
    for file, table in terr.sources.items():
        for key, (unit, source) in table.items():
            assert unit and len(source) > 6, (file, key)


def test_road_graph_connected_and_plausible(terr):
    g = nx.Graph()
    g.add_nodes_from(terr.ids)
    g.add_edges_from((terr.ids[a], terr.ids[b]) for a, b in zip(terr.road_from, terr.road_to))
    assert nx.is_connected(g)
    straight = terr.straight_km()[terr.road_from, terr.road_to]
    ratio = terr.road_length_km / straight
    assert np.all((ratio >= 1.2) & (ratio <= 1.45))
    speed = terr.road_length_km / terr.road_fftime_min * 60
    assert np.all((speed >= 20) & (speed <= 130))
    assert set(nx.get_edge_attributes(terr.graph, "mode").values()) >= {"road", "rail", "coach", "metro_tram"}


def test_haversine_matches_data_table():
    # DATA.md §2.1: Marseille 1er - Aix-en-Provence 26.1 km (main-town points)
    assert haversine_km(43.29814, 5.38407, 43.5283, 5.44973) == pytest.approx(26.1, abs=0.2)


# ---------------------------------------------------------------- skims

def test_road_skim(terr):
    t, d, pred = terr.road_skim()
    i = terr.index
    assert np.all(np.isfinite(t)) and np.all(np.diag(t) > 0)
    assert np.allclose(t, t.T, atol=1e-6)
    assert 20 <= t[i["Z01"], i["Z08"]] <= 35
    assert 28 <= d[i["Z01"], i["Z08"]] <= 40  # ~33 km est. road (DATA §2.4)
    # incidence reproduces path times
    inc = terr.road_path_links(pred)
    path_t = (inc @ terr.road_fftime_min).reshape(terr.n, terr.n)
    off = ~np.eye(terr.n, dtype=bool)
    assert np.allclose(path_t[off] + terr.terminal_min, t[off])
    # congestion on one link never shortens anything
    slow = terr.road_fftime_min.copy()
    slow[:2] *= 3
    t2, _, _ = terr.road_skim(slow)
    assert np.all(t2 >= t - 1e-9)


def test_transit_skim(terr):
    s = terr.transit_skim()
    i = terr.index
    tot = s["total_min"]
    assert np.all(np.diag(tot) > 0)
    # every pole reaches Marseille Centre by transit (and back)
    assert np.all(np.isfinite(tot[:, i["Z01"]])) and np.all(np.isfinite(tot[i["Z01"], :]))
    assert np.allclose(tot, tot.T, atol=1e-6)
    parts = s["access_min"] + s["wait_min"] + s["ivt_min"] + terr.transfer_penalty_min * s["transfers"]
    assert np.allclose(parts, tot)
    # TER only (no coach 50): Marseille - Aix between 40 and 75 min incl. access and wait
    ter = np.array([m == "rail" or m == "metro_tram" for m in terr.line_mode]) & terr.active_lines()
    st = terr.transit_skim(line_active=ter)
    assert 40 <= st["total_min"][i["Z01"], i["Z08"]] <= 75
    assert st["fare_eur"][i["Z01"], i["Z08"]] == pytest.approx(9.0)
    # line incidence: the Aix-Marseille OD rides TER_AIX when only rail is active
    row = i["Z01"] * terr.n + i["Z08"]
    assert st["line_use"][row, terr.line_ids.index("TER_AIX")] == 1


def test_doubling_frequency_never_slower(terr):
    base = terr.transit_skim()["total_min"]
    fast = terr.transit_skim(headway_scale=0.5, local_headway_scale=0.5)["total_min"]
    assert np.all(fast <= base + 1e-9)
    assert np.any(fast < base - 1)
    # per-line levers: faster in-vehicle times on one line only
    scale = np.ones(terr.n_lines)
    scale[terr.line_ids.index("TER_AIX")] = 0.7
    assert np.all(terr.transit_skim(ivt_scale=scale)["total_min"] <= base + 1e-9)


def test_single_ticket_and_planned_lines(terr):
    s = terr.transit_skim(fare_mode="single_ticket", single_fare=2.0)
    assert np.all(s["fare_eur"][np.isfinite(s["total_min"])] == 2.0)
    i = terr.index
    base = terr.transit_skim()
    later = terr.transit_skim(year=2030)
    assert later["active"].sum() > base["active"].sum()
    assert later["total_min"][i["Z05"], i["Z06"]] < base["total_min"][i["Z05"], i["Z06"]]
    with pytest.raises(ParameterError, match="headway_scale"):
        terr.transit_skim(headway_scale=np.ones(3))


def test_active_skim(terr):
    walk, bike, dist = terr.active_skim()
    assert np.all(np.diag(dist) == terr.intra_km)
    assert np.all(walk > bike)
    t, _, _ = terr.road_skim()
    assert np.all(bike >= t - terr.terminal_min - 1e-9)


# ---------------------------------------------------------------- broken files

def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "territory"
    shutil.copytree(default_folder(), dst)
    return dst


def _edit(folder: Path, name: str, fn) -> None:
    path = folder / name
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    fn(data)
    path.write_text(tomli_w.dumps(data), encoding="utf-8")


def _fails(folder: Path, *words: str) -> str:
    with pytest.raises(ParameterError) as info:
        load_territory(folder)
    msg = str(info.value)
    for w in words:
        assert w in msg, (w, msg)
    return msg


def test_roundtrip_copy_loads(tmp_path):
    f = _copy(tmp_path)
    _edit(f, "poles.toml", lambda d: None)
    assert load_territory(f).n == 23


def test_unknown_key(tmp_path):
    f = _copy(tmp_path)
    _edit(f, "poles.toml", lambda d: d["pole"][4].update(colour=3))
    _fails(f, "poles.toml", "Z05", "colour", "allowed keys")


def test_unknown_key_in_road(tmp_path):
    f = _copy(tmp_path)
    _edit(f, "links.toml", lambda d: d["road"][0].update(lanes=3))
    _fails(f, "links.toml", "road #1", "lanes")


def test_negative_capacity(tmp_path):
    f = _copy(tmp_path)
    _edit(f, "links.toml", lambda d: d["road"][2].update(capacity_veh_h=-100.0))
    _fails(f, "links.toml", "road #3", "capacity_veh_h", "allowed")


def test_link_to_missing_pole(tmp_path):
    f = _copy(tmp_path)
    _edit(f, "links.toml", lambda d: d["road"][0].update(to="Z99"))
    _fails(f, "links.toml", "Z99", "does not exist")


def test_transit_stop_missing_pole(tmp_path):
    f = _copy(tmp_path)
    _edit(f, "links.toml", lambda d: d["transit"][0]["stops"].__setitem__(1, "Z42"))
    _fails(f, "links.toml", "TER_AIX", "Z42")


def test_ivt_length_mismatch(tmp_path):
    f = _copy(tmp_path)
    _edit(f, "links.toml", lambda d: d["transit"][0]["ivt_min"].pop())
    _fails(f, "links.toml", "TER_AIX", "ivt_min")


def test_disconnected_pole(tmp_path):
    f = _copy(tmp_path)
    _edit(f, "links.toml", lambda d: d.update(road=[r for r in d["road"] if "Z23" not in (r["from"], r["to"])]))
    _fails(f, "links.toml", "not connected", "Z23")


def test_malformed_toml(tmp_path):
    f = _copy(tmp_path)
    with open(f / "poles.toml", "a", encoding="utf-8") as fh:
        fh.write("\n[[pole]\nid = \n")
    _fails(f, "poles.toml", "malformed TOML")


def test_wrong_sector_keys(tmp_path):
    f = _copy(tmp_path)
    _edit(f, "poles.toml", lambda d: d["pole"][0]["jobs"].pop("health"))
    _fails(f, "poles.toml", "Z01", "jobs", "health")


def test_share_out_of_range(tmp_path):
    f = _copy(tmp_path)
    _edit(f, "poles.toml", lambda d: d["pole"][1].update(vacancy_rate=1.5))
    _fails(f, "poles.toml", "Z02", "vacancy_rate", "[0, 1]")


def test_non_finite_number(tmp_path):
    f = _copy(tmp_path)
    _edit(f, "poles.toml", lambda d: d["pole"][1].update(price_eur_m2=float("nan")))
    _fails(f, "poles.toml", "Z02", "price_eur_m2")


def test_totals_mismatch(tmp_path):
    f = _copy(tmp_path)
    _edit(f, "poles.toml", lambda d: d["pole"][0].update(population=d["pole"][0]["population"] + 50_000))
    _fails(f, "poles.toml", "population", "0.5 %")


def test_duplicate_pole_id(tmp_path):
    f = _copy(tmp_path)
    _edit(f, "poles.toml", lambda d: d["pole"][1].update(id="Z01"))
    _fails(f, "poles.toml", "duplicate", "Z01")


def test_missing_source(tmp_path):
    f = _copy(tmp_path)
    _edit(f, "poles.toml", lambda d: d["sources"].pop("rent_eur_m2"))
    _fails(f, "poles.toml", "[sources]", "rent_eur_m2")


def test_bad_meta_unit(tmp_path):
    f = _copy(tmp_path)
    _edit(f, "links.toml", lambda d: d["meta"]["terminal_min"].update(unit="s"))
    _fails(f, "links.toml", "terminal_min", "unit")
