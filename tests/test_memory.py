"""Long sweeps: memory stays flat over 200 runs in one worker process (no leak).

A sweep worker runs many models one after the other; anything a run leaves
behind (module-level caches, growing registries, Mesa agents kept alive,
result tables) would make a 1000-run sweep die. 200 small runs in this one
process: the resident memory after run 200 must be within 20 % of the one
after run 50 (the first runs warm up imports and caches), and no finished
model may survive (mesa 3.3 kept them all alive: see results.release_model).
Runs end in 2017 (set-up, every process's init and the first collection, no
yearly step) to keep the test near 90 s; at end_year 2018 it takes twice as long.
"""
from __future__ import annotations

import gc

import pytest

N_RUNS, WARM, SCALE, END_YEAR = 200, 50, 0.001, 2017


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_memory_is_flat_over_200_runs():
    import psutil

    from simulator.runner import execute
    from simulator.experiment import FABRIQUE
    from simulator.model import FabriqueModel
    proc = psutil.Process()
    gc.collect()
    before = sum(isinstance(o, FabriqueModel) for o in gc.get_objects())   # e.g. other tests' fixtures
    rss = {}
    for i in range(1, N_RUNS + 1):
        # the same entry point a sweep worker uses, with its overrides, as many runs of a design would
        spec = {"model": FABRIQUE, "run_id": f"r{i:04d}", "scenario": "baseline", "scale": SCALE, "seed": i,
                "replicate": 0, "start_year": None, "end_year": END_YEAR, "strict": False, "metrics": None,
                "tables": ("metrics", "personas", "flows"), "params": {"demography.fertility_factor": 1.0 + i / 1e3},
                "experiment": "memory", "index": i, "point": i}
        out = execute(spec)
        assert out["ok"], out.get("traceback")
        del out
        if i in (WARM, N_RUNS):
            gc.collect()
            rss[i] = proc.memory_info().rss
    alive = sum(isinstance(o, FabriqueModel) for o in gc.get_objects()) - before
    assert alive <= 0, f"{alive} finished models are still referenced"
    growth = rss[N_RUNS] / rss[WARM] - 1
    assert growth < 0.20, f"RSS grew {100 * growth:.1f} % between run {WARM} and run {N_RUNS}: " \
                          f"{rss[WARM] / 2**20:.0f} MiB -> {rss[N_RUNS] / 2**20:.0f} MiB"


def test_a_finished_run_releases_its_model():
    from simulator import run
    from simulator.model import FabriqueModel

    def models() -> int:
        gc.collect()
        return sum(isinstance(o, FabriqueModel) for o in gc.get_objects())
    before = models()
    for seed in (1, 2):
        run("baseline", scale=0.001, seed=seed, end_year=2017)
    assert models() <= before
