"""Performance benchmark of Fabrique 2040 (regenerates docs/performance.md).

    python experiments/benchmark.py --markdown docs/performance.md
    fabrique bench --scales 0.01,0.1,1.0 --runs 1000 --json

Measures, each scale in a fresh subprocess (so peak memory is per scale):
population synthesis time, full-run time 2017 -> end year, peak RSS,
per-process seconds per simulated year (model.timings), and the model's
cost per agent-year as a ratio to an empty ``mesa.Agent`` step
(``model.agents.shuffle_do("step")`` over 1 M agents). Then the sweep
throughput: N runs at scale 0.01 through the real runner (`fabrique
sweep` code path, results written to a temporary store) with 1 worker and
with all cores: runs per minute and the speed-up.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RUNS, TARGET_MINUTES = 1000, 10.0


def _one_scale(scale: float, seed: int, end_year: int | None, scenario: str = "fabrique2040",
               processes: tuple[str, ...] | None = None) -> dict:
    """Run one model at one scale (in this process) and report its timings.

    ``step_s_per_year`` is wall time per simulated year (the metric rows of
    a year are computed in a background process while the next year runs:
    ``metrics_background`` is that process's time, not added to the wall);
    ``us_per_agent_year`` = run wall time / (mean living persons x years).
    """
    import resource

    from simulator.model import FabriqueModel
    t0 = time.perf_counter()
    m = FabriqueModel(scenario=scenario, scale=scale, seed=seed, end_year=end_year, processes=processes)
    t_init = time.perf_counter() - t0
    persons0 = int(m.persons.alive.sum())
    init_t = dict(m.timings)
    t1 = time.perf_counter()
    m.run_model()
    t_run = time.perf_counter() - t1
    years = m.end_year - m.start_year
    persons1 = int(m.persons.alive.sum())
    yearly = {k: (v - (init_t.get(k, 0.0) if k not in ("setup", "population") else v)) / years
              for k, v in m.timings.items() if k not in ("setup", "population")}
    mean_persons = 0.5 * (persons0 + persons1)
    return {"scale": scale, "scenario": scenario, "processes": list(m.processes),
            "persons_rows": persons0, "persons_2040": persons1, "households_rows": int(m.households.alive.sum()),
            "years": years, "synthesis_s": round(init_t.get("population", 0.0) + init_t.get("setup", 0.0), 4),
            "init_s": round(t_init, 4), "run_s": round(t_run, 4),
            "wall_s": round(t_init + t_run, 4),           # synthesis + run
            "s_per_year": {k: round(v, 5) for k, v in yearly.items()},
            "step_s_per_year": round(t_run / years, 5),
            "us_per_agent_year": round(1e6 * t_run / (years * max(mean_persons, 1)), 4),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            # the metrics worker process (simulator.metrics_worker), stopped at the end of the run; its RSS
            # includes the shared block of the state copy, counted in the main process's RSS too
            "worker_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
            "shared_block_mb": round(getattr(m, "metrics_block_bytes", 0) / 2**20, 1)}


def _mesa_baseline(n: int) -> dict:
    """Seconds per agent-step of an empty mesa.Agent under model.agents.shuffle_do('step')."""
    import resource

    import mesa

    class Empty(mesa.Agent):
        def step(self):
            pass

    model = mesa.Model(seed=1)
    t0 = time.perf_counter()
    Empty.create_agents(model, n)
    t_create = time.perf_counter() - t0
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        model.agents.shuffle_do("step")
        best = min(best, time.perf_counter() - t)
    return {"agents": n, "create_s": round(t_create, 3), "step_s": round(best, 4),
            "us_per_agent_step": round(1e6 * best / n, 4),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _subprocess(args: list[str], timeout: float = 3600) -> dict:
    r = subprocess.run([sys.executable, str(Path(__file__).resolve())] + args, capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def throughput(runs: int, workers: int, scale: float = 0.01, end_year: int | None = None,
               scenario: str = "fabrique2040") -> dict:
    """runs/minute of `runs` replicates of a scenario through the sweep runner."""
    from simulator.experiment import experiment_from_dict
    from simulator.runner import sweep
    d = {"name": "benchmark", "description": "benchmark throughput", "seed": 1, "scale": scale,
         "replicates": runs, "scenarios": [scenario]}
    if end_year:
        d["end_year"] = end_year
    with tempfile.TemporaryDirectory(prefix="fabrique-bench-") as tmp:
        t0 = time.perf_counter()
        rep = sweep(experiment_from_dict(d), Path(tmp) / "store", workers=workers)
        wall = time.perf_counter() - t0
        first_error = None
        if rep.failed:
            f = sorted((Path(tmp) / "store" / "failed").glob("*.json"))[0]
            first_error = json.loads(f.read_text())["traceback"].strip().splitlines()[-1]
    rate = rep.done / wall if rep.done else float("nan")      # completed runs only
    return {"runs": runs, "workers": workers, "done": rep.done, "failed": rep.failed, "wall_s": round(wall, 2),
            "runs_per_minute": round(60 * rate, 1), "first_error": first_error,
            "projected_minutes_for_1000": round(TARGET_RUNS / rate / 60, 2) if rep.done else float("nan")}


def benchmark(scales=(0.01, 0.1, 1.0), runs: int = 100, scaling_runs: int = 20, mesa_agents: int = 1_000_000,
              seed: int = 1, end_year: int | None = None, log=print, scenario: str = "fabrique2040",
              foundation: bool = True) -> dict:
    import simulator
    out: dict = {"version": simulator.__version__, "python": platform.python_version(), "scenario": scenario,
                 "machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d %H:%M"),
                 "load_average_at_start": round(os.getloadavg()[0], 2),
                 "scales": [], "mesa": None, "scaling": [], "throughput": None}
    from simulator.model import scheduled_processes
    out["processes"] = scheduled_processes()
    for s in scales:
        log(f"scale {s}: one run 2017 -> {end_year or 'end'} in a fresh process ...")
        args = ["--_one", str(s), "--seed", str(seed), "--scenario", scenario] + \
            (["--end-year", str(end_year)] if end_year else [])
        out["scales"].append(_subprocess(args) | {"scale": s})
    if foundation and 1.0 in scales:
        log("foundation run (issue 2): demography only, baseline, scale 1.0 ...")
        args = ["--_one", "1.0", "--seed", str(seed), "--scenario", "baseline", "--_demography"] + \
            (["--end-year", str(end_year)] if end_year else [])
        out["foundation"] = _subprocess(args) | {"scale": 1.0}
    if mesa_agents:
        log(f"mesa baseline: empty step over {mesa_agents:,} agents ...")
        out["mesa"] = _subprocess(["--_mesa", str(mesa_agents)])
        base = out["mesa"].get("us_per_agent_step")
        for r in out["scales"] + ([out["foundation"]] if out.get("foundation") else []):
            if base and "us_per_agent_year" in r:
                r["cost_ratio_to_empty_mesa_step"] = round(r["us_per_agent_year"] / base, 3)
    ncores = os.cpu_count() or 1
    if scaling_runs:
        for w in sorted({1, ncores}):
            log(f"scaling: {scaling_runs} runs at scale 0.01 with {w} worker(s) ...")
            out["scaling"].append(throughput(scaling_runs, w, 0.01, end_year, scenario))
        if len(out["scaling"]) > 1:
            out["speedup"] = round(out["scaling"][-1]["runs_per_minute"] / out["scaling"][0]["runs_per_minute"], 2)
    if runs:
        log(f"throughput: {runs} runs at scale 0.01 with {ncores} workers ...")
        tp = throughput(runs, ncores, 0.01, end_year, scenario)
        tp["target"] = f"{TARGET_RUNS} runs in <= {TARGET_MINUTES:g} min"
        tp["meets_target"] = bool(tp["failed"] == 0 and tp["projected_minutes_for_1000"] <= TARGET_MINUTES)
        out["throughput"] = tp
    return out


def _total_mb(r: dict) -> float:
    """Peak RSS of the main process plus the metrics worker's (upper bound of the run's memory)."""
    return r["peak_rss_mb"] + r.get("worker_peak_rss_mb", 0.0)


def markdown(res: dict) -> str:
    L = ["# Performance", "",
         "Generated by `python experiments/benchmark.py --markdown docs/performance.md` "
         "(same as `fabrique bench`); re-run it after any change to the model. Do not edit by hand.", "",
         f"Measured {res['date']} on {res['machine']}, Python {res['python']}, fabrique2040 {res['version']}; "
         f"processes: {', '.join(res.get('processes', []))}; load average at start "
         f"{res.get('load_average_at_start', float('nan')):.2f} (anything above ~0.5 means other work shared the "
         f"cores and the timings are pessimistic).", "",
         f"## One run per scale (scenario {res.get('scenario', 'baseline')}, all processes, 2017-2040, "
         "fresh process per scale)", "",
         "Wall times. From 50,000 person rows the metric rows of each year are computed in a background "
         "process while the next year runs (`metrics_background` below is that process's time, hidden behind "
         "the main process's); us per agent-year = run wall time / (mean living persons x years). Peak RSS: "
         "the main process; + worker: the sum of the main process's and the metrics worker's peaks (an upper "
         "bound: the shared block holding the copy of the state is counted in both).", "",
         "| scale | persons 2017 | synthesis (s) | run (s) | total (s) | wall s/yr | us per agent-year | "
         "x empty Mesa step | peak RSS (MB) | + worker (MB) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["scales"] + ([res["foundation"]] if res.get("foundation") else []):
        if "error" in r:
            L.append(f"| {r['scale']} | error: {r['error']} | | | | | | | | |")
            continue
        label = f"{r['scale']} (demography only, baseline: issue 2)" if r is res.get("foundation") else r["scale"]
        L.append(f"| {label} | {r['persons_rows']:,} | {r['synthesis_s']:.2f} | {r['run_s']:.2f} | "
                 f"{r['wall_s']:.2f} | {r['step_s_per_year']:.3f} | {r['us_per_agent_year']:.3f} | "
                 f"{r.get('cost_ratio_to_empty_mesa_step', float('nan')):.2f} | {r['peak_rss_mb']:,.0f} | "
                 f"{_total_mb(r):,.0f} |")
    procs = sorted({k for r in res["scales"] for k in r.get("s_per_year", {})})
    if procs:
        L += ["", "### Seconds per simulated year, by process", "",
              "| scale | " + " | ".join(procs) + " |", "|---|" + "---|" * len(procs)]
        for r in res["scales"]:
            if "s_per_year" in r:
                L.append(f"| {r['scale']} | " + " | ".join(f"{r['s_per_year'].get(p, 0):.4f}" for p in procs) + " |")
        L += ["", "`compact`: dropping dead rows (when over 10 % of the rows); `metrics`: the main process's share "
              "of the bookkeeping (copy of the state into the shared block, persona rows, the Mesa DataCollector, "
              "waiting for the "
              "previous year's rows); `metrics_copy`: the part of `metrics` spent copying the state."]
    if res.get("mesa"):
        m = res["mesa"]
        L += ["", "## Reference: an empty Mesa step", "",
              f"`model.agents.shuffle_do(\"step\")` over {m.get('agents', 0):,} empty `mesa.Agent`s: "
              f"{m.get('step_s', float('nan')):.3f} s per step, i.e. {m.get('us_per_agent_step', float('nan')):.3f} "
              f"us per agent-step (creating them: {m.get('create_s', float('nan')):.1f} s, peak RSS "
              f"{m.get('peak_rss_mb', float('nan')):,.0f} MB). The column \"x empty Mesa step\" above is the "
              f"model's cost per person-year divided by this."]
    if res.get("scaling"):
        L += ["", "## Sweep throughput (scale 0.01, `fabrique sweep` code path)", "",
              "| workers | runs | failed | wall (s) | runs/min | projected min for 1,000 runs |",
              "|---|---|---|---|---|---|"]
        for s in res["scaling"] + ([res["throughput"]] if res.get("throughput") else []):
            L.append(f"| {s['workers']} | {s['runs']} | {s['failed']} | {s['wall_s']:.1f} | "
                     f"{s['runs_per_minute']:.1f} | {s['projected_minutes_for_1000']:.2f} |")
            if s.get("first_error"):
                L.append(f"|  | first failure: {s['first_error']} | | | | |")
        if "speedup" in res:
            L += ["", f"Speed-up from 1 to {res['scaling'][-1]['workers']} workers: x{res['speedup']:.2f}."]
    if res.get("throughput"):
        t = res["throughput"]
        L += ["", f"Target ({t['target']}): **{'met' if t['meets_target'] else 'NOT met'}** "
                  f"({t['projected_minutes_for_1000']:.2f} min for 1,000 runs at {t['runs_per_minute']:.1f} runs/min"
                  f"{'' if t['runs'] >= TARGET_RUNS else ', projected from ' + str(t['runs']) + ' runs'})."]
    L += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    by_scale = {r["scale"]: r for r in res["scales"] if "error" not in r}
    if 1.0 in by_scale:
        r = by_scale[1.0]
        L.append(f"| issue 9: scale 1.0, all processes, <= 20 s wall and <= 1.5 GB (main + metrics worker) | "
                 f"{r['wall_s']:.1f} s, {_total_mb(r):,.0f} MB | "
                 f"{'yes' if r['wall_s'] <= 20 and _total_mb(r) <= 1536 else 'no'} |")
    if 0.01 in by_scale:
        r = by_scale[0.01]
        L.append(f"| issue 9: scale 0.01 <= 1 s | {r['wall_s']:.2f} s | {'yes' if r['wall_s'] <= 1 else 'no'} |")
    if res.get("foundation") and "error" not in res["foundation"]:
        r = res["foundation"]
        L.append(f"| issue 2: demography-only run at scale 1.0 well under 10 s and 1.5 GB | {r['wall_s']:.1f} s, "
                 f"{r['peak_rss_mb']:,.0f} MB | {'yes' if r['wall_s'] <= 8 and r['peak_rss_mb'] <= 1536 else 'no'}"
                 " (read as <= 8 s) |")
    if res.get("throughput"):
        t = res["throughput"]
        L.append(f"| issue 7: 1,000 runs at scale 0.01 in <= 10 min on this machine | "
                 f"{t['projected_minutes_for_1000']:.2f} min | {'yes' if t['meets_target'] else 'no'} |")
    L += ["", "Each run writes its full result folder (metrics, personas, flows); workers run with one BLAS "
              "thread each (see docs/experiments.md: byte-identical results on any backend).", ""]
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", default="0.01,0.1,1.0")
    ap.add_argument("--runs", type=int, default=100, help="runs at scale 0.01 on all cores (0: skip)")
    ap.add_argument("--scaling-runs", type=int, default=20, help="runs for the 1-worker vs all-cores curve")
    ap.add_argument("--mesa-agents", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--end-year", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--markdown", default=None, help="write the report to this .md file")
    ap.add_argument("--scenario", default="fabrique2040", help="scenario of the per-scale runs and the sweeps")
    ap.add_argument("--_one", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_demography", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--_mesa", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._one is not None:
        print(json.dumps(_one_scale(a._one, a.seed, a.end_year, a.scenario,
                                    ("demography",) if a._demography else None)))
        return 0
    if a._mesa is not None:
        print(json.dumps(_mesa_baseline(a._mesa)))
        return 0
    scales = [float(s) for s in a.scales.split(",") if s.strip()]
    res = benchmark(scales, a.runs, a.scaling_runs, a.mesa_agents, a.seed, a.end_year,
                    log=(lambda *x: None) if a.json else (lambda msg: print(msg, file=sys.stderr)), scenario=a.scenario)
    if a.markdown:
        Path(a.markdown).write_text(markdown(res), encoding="utf-8")
    print(json.dumps(res, indent=1) if a.json else markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
