"""The model: demography to 2040, accounting, determinism, Mesa integration."""
from __future__ import annotations

import hashlib
import subprocess
import sys

import mesa
import numpy as np
import pandas as pd
import pytest

from simulator import run
from simulator.model import FabriqueModel
from simulator.results import write_result


def _overall(res, metric):
    m = res.metrics
    return m[(m.metric == metric) & (m.group == "all")].set_index("year")["value"]


def test_population_2040_inside_insee_range(baseline_result):
    pop = _overall(baseline_result, "population")
    assert pop.index.min() == 2017 and pop.index.max() == 2040
    assert 1.88e6 <= pop[2040] <= 2.15e6   # FACTS.md DEM-9


def test_sixty_plus_grows_about_41_percent(baseline_result):
    s = _overall(baseline_result, "population_60plus")
    growth = s[2040] / s[2017] - 1
    assert 0.30 <= growth <= 0.52          # FACTS.md DEM-12: +41 %


def test_accounting_balances_every_year(baseline_result):
    pop = _overall(baseline_result, "population")
    b, d, mig = (_overall(baseline_result, k) for k in ("births", "deaths", "net_migration"))
    for y in range(2018, 2041):
        assert pop[y] == pytest.approx(pop[y - 1] + b[y] - d[y] + mig[y], rel=1e-9)


def test_net_migration_near_booklet(baseline_result):
    mig = _overall(baseline_result, "net_migration").loc[2018:]
    assert mig.mean() == pytest.approx(-4000, abs=2500)   # FACTS.md DEM-21


def test_status_partition_equals_population(baseline_result):
    m = baseline_result.metrics
    allg = m[m.group == "all"].pivot(index="year", columns="metric", values="value")
    parts = allg[[c for c in allg.columns if c.startswith("persons_")]].sum(axis=1)
    np.testing.assert_allclose(parts, allg["population"], rtol=1e-9)


def test_per_pole_and_segment_groups(baseline_result):
    m = baseline_result.metrics
    pop = m[(m.metric == "population") & (m.year == 2017)]
    poles = pop[pop.group.str.startswith("pole=")]
    segs = pop[pop.group.str.startswith("segment=")]
    assert len(poles) == 23 and len(segs) == 8
    total = pop[pop.group == "all"].value.iloc[0]
    assert poles.value.sum() == pytest.approx(total) and segs.value.sum() == pytest.approx(total)


def test_personas_recorded_every_year(baseline_result):
    per = baseline_result.personas
    assert set(per.persona) == {"sophie", "nicolas", "laurence", "carlos", "jean_stephane", "sarah",
                                "huguette", "malika"}
    assert per.groupby("persona").year.nunique().eq(24).all()


def test_same_seed_byte_identical_different_seed_differs(tmp_path):
    a = run("baseline", scale=0.005, seed=7, end_year=2022)
    b = run("baseline", scale=0.005, seed=7, end_year=2022)
    c = run("baseline", scale=0.005, seed=8, end_year=2022)
    for r, d in ((a, "a"), (b, "b"), (c, "c")):
        write_result(r, tmp_path / d)
    h = {d: hashlib.sha256((tmp_path / d / "metrics.parquet").read_bytes()).hexdigest() for d in "abc"}
    assert h["a"] == h["b"]
    assert h["a"] != h["c"]
    assert (tmp_path / "a" / "manifest.json").exists()


def test_mesa_batch_run_two_seeds():
    res = mesa.batch_run(FabriqueModel, parameters={"scale": 0.003, "seed": [1, 2], "end_year": 2019},
                         iterations=1, max_steps=5, number_processes=1, display_progress=False)
    assert len({r["seed"] for r in res}) == 2


def test_persona_agents_live_on_the_network(baseline_model):
    m = baseline_model
    assert len(m.persona_agents) == 8
    for pid, agent in m.persona_agents.items():
        assert isinstance(agent, mesa.Agent)
        pole = m.territory.ids[m.households.pole[m.persons.hh[agent.row]]]
        assert agent.cell.coordinate == pole


def test_streams_are_keyed_by_name():
    m1 = FabriqueModel(scale=0.002, seed=4, end_year=2017)
    m2 = FabriqueModel(scale=0.002, seed=4, end_year=2017)
    assert m1.stream("labour").random() == m2.stream("labour").random()
    assert m1.stream("housing").random() != m1.stream("labour").random()


# ------------------------------------------------------------------ compaction of dead rows
def test_compaction_drops_dead_rows_and_changes_no_outcome():
    m = FabriqueModel("fabrique2040", scale=0.005, seed=4, strict=True, compact_dead_share=None, end_year=2026)
    m.run_model()
    p, h = m.persons, m.households
    assert (~p.alive).sum() > 0 and (~h.alive).sum() > 0
    before_rows, before_flows, _ = m._compute_metrics(m, None)
    alive_pid = p.pid[p.alive]
    state = {k: v[p.alive].copy() for k, v in p.arrays().items() if k != "hh"}
    hh_pole = h.pole[p.hh[p.alive]].copy()
    named = {k: int(p.pid[v]) for k, v in m.named.items()}
    m.compact()
    p, h = m.persons, m.households
    assert p.alive.all() and p.n == alive_pid.size
    assert h.n == np.count_nonzero(h.alive | np.isin(np.arange(h.n), m.named_households))
    rows = p.rows_of(alive_pid)
    assert (rows == np.arange(p.n)).all()
    for k, v in state.items():
        assert np.array_equal(getattr(p, k)[rows], v), k
    assert np.array_equal(h.pole[p.hh], hh_pole)
    assert {k: int(p.pid[v]) for k, v in m.named.items()} == named
    for agent in m.persona_agents.values():
        assert agent.row == m.named[agent.persona_id]
        assert (p.hh[agent.members] == agent.household).all()
    after_rows, after_flows, _ = m._compute_metrics(m, None)
    assert [r[:3] for r in after_rows] == [r[:3] for r in before_rows]
    np.testing.assert_allclose([r[3] for r in after_rows], [r[3] for r in before_rows], rtol=1e-9, equal_nan=True)
    assert [r[:4] for r in after_flows] == [r[:4] for r in before_flows]
    np.testing.assert_allclose([r[4] for r in after_flows], [r[4] for r in before_flows], rtol=1e-9)
    m.check_invariants({})


def test_person_ids_are_stable_and_never_reused():
    m = FabriqueModel("baseline", scale=0.005, seed=2, strict=True, end_year=2030, compact_dead_share=0.02)
    first = m.persons.pid.copy()
    m.run_model()
    p = m.persons
    assert m.timings.get("compact", 0) > 0                      # compacted at least once
    assert np.all(np.diff(p.pid) > 0)                          # increasing in row order, unique
    assert p.pid.max() >= first.max() + 1                      # newborns and immigrants got new ids
    gone = np.setdiff1d(first, p.pid)
    assert gone.size > 0 and (p.rows_of(gone) == -1).all()


def test_metric_and_flow_rows_are_the_same_with_or_without_the_background_process():
    runs = []
    for overlap in (True, False):
        m = FabriqueModel("fabrique2040", scale=0.005, seed=6, end_year=2022, overlap_metrics=overlap)
        m.run_model()
        runs.append((m.metric_rows, m.flow_rows))
        if overlap:    # the worker process has been stopped and its shared block freed at the end of the run
            assert m._metrics_worker is None
    (a, fa), (b, fb) = runs
    assert [r[:3] for r in a] == [r[:3] for r in b]
    np.testing.assert_array_equal(np.array([r[3] for r in a]), np.array([r[3] for r in b]))
    assert fa == fb and len(fa) > 0


def test_an_error_in_the_metrics_process_is_raised_in_the_run():
    m = FabriqueModel("baseline", scale=0.003, seed=1, end_year=2019, overlap_metrics=True)
    worker = m._metrics_worker
    m.wait_metrics()
    state, unread = m._metrics_state()
    del state["persons"]                                   # the worker's metric functions fail on this copy
    worker.submit(state, unread, {})
    with pytest.raises(AttributeError) as err:
        worker.result()
    assert "in the metrics worker process" in str(err.value.__cause__)
    assert "persons" in str(err.value)
    proc = worker._proc
    m._worker_finalizer()
    assert proc.poll() is not None                         # the worker process has exited


def test_background_metrics_work_from_a_script_without_main_guard(tmp_path):
    # multiprocessing's spawn would re-run such a script in the child; the worker is a plain interpreter
    script = tmp_path / "plain.py"
    script.write_text("from simulator import FabriqueModel\n"
                      "m = FabriqueModel('baseline', scale=0.003, seed=1, end_year=2018, overlap_metrics=True)\n"
                      "m.run_model()\nprint('rows', len(m.metric_rows))\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) > 0


def test_ids_of_dropped_rows_are_not_handed_out_again():
    from simulator import state as S
    m = FabriqueModel("baseline", scale=0.003, seed=1, end_year=2017)
    p = m.persons
    newest = int(p.pid.max())
    keep = np.ones(p.n, dtype=bool)
    keep[-3:] = False                                   # drop the three newest persons
    p.take(keep)
    baby = S.Persons(age=np.zeros(2, np.int16), sex=np.zeros(2, np.int8), hh=p.hh[:2].copy(),
                     segment=p.segment[:2].copy(), edu=np.zeros(2, np.int8), status=np.zeros(2, np.int8),
                     licence=np.zeros(2, bool), income=np.zeros(2, np.float32), alive=np.ones(2, bool))
    p.append(baby)
    assert p.pid[-2:].min() > newest
    assert np.all(np.diff(p.pid) > 0)


def test_metrics_fall_back_to_in_line_without_shared_memory_room(monkeypatch):
    import shutil as _shutil
    from collections import namedtuple
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(_shutil, "disk_usage", lambda path: Usage(10**9, 10**9, 1024))   # a full /dev/shm
    with pytest.warns(RuntimeWarning, match="in line"):    # from the first collection, at construction
        m = FabriqueModel("baseline", scale=0.003, seed=1, end_year=2019, overlap_metrics=True)
        m.run_model()
    assert m.overlap_metrics is False and m._metrics_worker is None
    ref = FabriqueModel("baseline", scale=0.003, seed=1, end_year=2019, overlap_metrics=False)
    ref.run_model()
    assert [r[:3] for r in m.metric_rows] == [r[:3] for r in ref.metric_rows]
    np.testing.assert_array_equal([r[3] for r in m.metric_rows], [r[3] for r in ref.metric_rows])


def test_the_metrics_worker_imports_the_same_package_as_the_model(tmp_path):
    import simulator.metrics_worker as MW
    m = FabriqueModel("baseline", scale=0.003, seed=1, end_year=2017, overlap_metrics=True)
    # run from another directory holding another "simulator" package: the worker must not pick it up
    fake = tmp_path / "simulator"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('the wrong simulator package')\n")
    import os
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        w = MW.MetricsWorker(m)
        state, unread = m._metrics_state()
        w.submit(state, unread, None)
        rows, flows, _ = w.result()
        assert rows and rows[0][0] == m.year
    finally:
        os.chdir(cwd)
        w.close()
        m.wait_metrics()
        m._worker_finalizer()


def test_a_dead_metrics_worker_stops_the_run_with_a_clear_error():
    m = FabriqueModel("baseline", scale=0.003, seed=1, end_year=2020, overlap_metrics=True)
    m.step()
    m._metrics_worker._proc.kill()                     # e.g. killed by the OS for memory
    m._metrics_worker._proc.wait()
    with pytest.raises(RuntimeError, match="metrics worker process died"):
        m.run_model()
    m._worker_finalizer()


def _same_rows(a, b):
    assert [r[:-1] for r in a] == [r[:-1] for r in b]
    x, y = np.array([r[-1] for r in a], float), np.array([r[-1] for r in b], float)
    assert np.array_equal(x, y, equal_nan=True)


def test_metric_pass_shortcuts_give_the_plain_definitions_bit_for_bit():
    """Shared selections of a metrics pass (simulator.metrics.Groups) equal the plain computations exactly,
    also with living persons of weight 0 (not counted) and with non-finite weights (no product shortcut)."""
    from simulator import metrics as M
    from simulator.processes import housing  # noqa: F401  (imports housing_outputs: import it first)
    from simulator.processes import housing_market as HM
    from simulator.processes import housing_outputs as HO
    m = FabriqueModel("fabrique2040", scale=0.005, seed=3, overlap_metrics=False, end_year=2019)
    m.run_model()
    rows1, flows1, _ = m._compute_metrics(m, None)
    rows2, flows2, _ = m._compute_metrics(m, None)       # work arrays reused from the first pass
    _same_rows(rows1, rows2)
    _same_rows(flows1, flows2)
    p, h = m.persons, m.households
    for zero_weight in (False, True):
        if zero_weight:                      # a living household of weight 0: its members are not counted
            h.weight[p.hh[np.flatnonzero(p.alive & (p.age >= 18) & (p.age <= 29))[:3]]] = 0.0
        g = M.Groups(m)
        assert (g._live_idx is g.p_alive_idx) == (not zero_weight)
        plain, shared = HM.household_facts(p, h), HO._facts_of_groups(p, h, g)
        for f in ("members", "adults", "kids", "income", "cu", "oldest", "live", "income_cu"):
            assert np.array_equal(getattr(plain, f), getattr(shared, f)), f
        young, indep = HO._independent(m, plain.oldest)
        yi, ind = HO._independent_rows(m, plain.oldest)
        a, b = [], []
        M.add_rate(a, "young", g, indep, young)
        M.add_rate_of_rows(b, "young", M.Groups(m), yi, ind)
        _same_rows(a, b)
    w = np.array([1.0, 2.0, np.nan, np.inf])
    mask = np.array([True, False, False, False])
    g.finite_w = False
    assert np.array_equal(M.masked(g, w, mask), np.where(mask, w, 0.0))
