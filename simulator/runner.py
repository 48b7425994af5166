"""Replicates and sweeps: local process pool or Dask, resumable results store.

One code path for every backend: the runs of an experiment
(:func:`simulator.experiment.plan`) are task specs (plain dicts);
:func:`execute` runs one spec on a worker and returns its tables (or its
traceback); the driver commits each returned run to the store as soon as it
arrives. Backends: ``pool`` (``concurrent.futures.ProcessPoolExecutor``
with spawned workers; ``--workers 1`` is the serial case), ``dask``
(``dask.distributed``: an existing scheduler or a LocalCluster) and
``inline`` (this process, for debugging). Seeds come from the experiment
file only and every worker runs with one BLAS thread (WORKER_ENV), so every
backend and any number of workers give byte-identical result tables.

Store layout (``--out DIR``)::

    DIR/experiment.toml          the resolved experiment (after --scale)
    DIR/design.json              every run: run_id, scenario, point, params, replicate, seed
    DIR/runs/<run_id>/           a normal run folder (metrics/personas/flows.parquet,
                                 manifest.json with the run's parameters, seed,
                                 version and scenario hash) -- `fabrique report DIR` reads it
    DIR/failed/<run_id>.json     a failed run: its spec and traceback

A run folder is written under ``runs/.writing-*`` and renamed into place in
one step, so a run is either complete or absent, whenever the sweep is
killed. Only the driver writes, so workers need no shared filesystem.
"""
from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pandas as pd

from .experiment import Experiment, FABRIQUE, load_experiment, plan, split_overrides
from .params import ParameterError
from .results import OutputError

RUNS, FAILED, LOCK = "runs", "failed", ".sweep.lock"
TMP_PREFIX = ".writing-"


class StoreWriteError(ParameterError):
    """The store could not be written (e.g. disk full); completed runs stay, --resume completes the rest."""


class SweepInterrupted(RuntimeError):
    """The sweep was interrupted (Ctrl-C); completed runs are in the store."""


# --------------------------------------------------------------------------- one run (on a worker)
def _scenario_with_levers(name: str, levers: dict[str, dict[str, Any]]):
    """The scenario with engagement levers of a design point applied (validated by the engagement)."""
    import copy
    from .experiment import engagement_registry
    from .scenario import load_scenario
    sc = copy.deepcopy(load_scenario(name))
    reg = engagement_registry() or {}
    for eid, kv in levers.items():
        table = copy.deepcopy(sc.engagements.get(eid, {}))
        levers_ = dict(table.get("levers", {}))
        levers_.update(kv.get("levers", {}))
        table.update({k: v for k, v in kv.items() if k != "levers"})
        if levers_:
            table["levers"] = levers_
        sc.engagements[eid] = reg[eid].validate(table, f"experiment: engagement.{eid}")
    return sc


def _synthetic(spec: dict[str, Any]):
    """Run a synthetic model 'module:function'(params, seed, replicate, scenario) -> {metric: value}."""
    from .results import METRIC_COLUMNS, FLOW_COLUMNS, RunResult
    mod, fn = spec["model"].split(":", 1)
    func = getattr(importlib.import_module(mod), fn)
    out = func(dict(spec["params"]), seed=spec["seed"], replicate=spec["replicate"], scenario=spec["scenario"])
    year = spec["end_year"] or spec["start_year"] or 2017
    met = pd.DataFrame([(spec["scenario"], spec["replicate"], spec["seed"], year, k, "all", float(v))
                        for k, v in sorted(out.items())], columns=METRIC_COLUMNS)
    met["year"] = met["year"].astype("int32")
    from . import __version__
    man = {"package": "fabrique2040", "version": __version__, "scenario": spec["scenario"], "seed": spec["seed"],
           "replicate": spec["replicate"], "scale": spec["scale"], "model": spec["model"],
           "scenario_hash": None, "wall_time_total_s": 0.0}
    return RunResult(metrics=met, personas=pd.DataFrame(), flows=pd.DataFrame(columns=FLOW_COLUMNS), manifest=man)


def execute(spec: dict[str, Any], overlap_metrics: bool | None = False) -> dict[str, Any]:
    """Run one task spec; never raises for a model error (returns its traceback instead).

    ``overlap_metrics``: False in pool and Dask workers (the runs already keep every core busy, a metrics
    process per run would only compete with them); None (the model's default) for a serial sweep.
    """
    t0 = time.perf_counter()
    try:
        if spec["model"] == FABRIQUE:
            from .results import run
            procs, levers = split_overrides(spec["params"])
            scenario = _scenario_with_levers(spec["scenario"], levers) if levers else spec["scenario"]
            res = run(scenario=scenario, scale=spec["scale"], seed=spec["seed"], replicate=spec["replicate"],
                      start_year=spec["start_year"], end_year=spec["end_year"], strict=spec["strict"],
                      overrides=procs or None, overlap_metrics=overlap_metrics)
        else:
            res = _synthetic(spec)
        if spec.get("metrics"):
            res.metrics = res.metrics[res.metrics["metric"].isin(spec["metrics"])].reset_index(drop=True)
        if "personas" not in spec["tables"]:
            res.personas = res.personas.iloc[0:0]
        if "flows" not in spec["tables"]:
            res.flows = res.flows.iloc[0:0]
        res.manifest["experiment"] = {k: spec[k] for k in ("experiment", "run_id", "index", "point", "params",
                                                           "replicate", "seed")}
        return {"ok": True, "run_id": spec["run_id"], "result": res, "seconds": time.perf_counter() - t0}
    except Exception:  # noqa: BLE001 -- a failed run is recorded, the sweep goes on
        return {"ok": False, "run_id": spec["run_id"], "spec": spec, "traceback": traceback.format_exc(),
                "seconds": time.perf_counter() - t0}


def _ignore_sigint() -> None:
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# --------------------------------------------------------------------------- store
def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def completed_runs(out: Path) -> set[str]:
    d = Path(out) / RUNS
    if not d.is_dir():
        return set()
    return {p.name for p in d.iterdir() if not p.name.startswith(".") and (p / "manifest.json").exists()}


def failed_runs(out: Path) -> dict[str, dict[str, Any]]:
    d = Path(out) / FAILED
    if not d.is_dir():
        return {}
    out_: dict[str, dict[str, Any]] = {}
    for p in sorted(d.glob("*.json")):
        try:
            out_[p.stem] = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
    return out_


def commit(out: Path, payload: dict[str, Any]) -> None:
    """Write one returned run into the store atomically (or record its failure)."""
    from .results import write_result
    out = Path(out)
    rid = payload["run_id"]
    if payload["ok"]:
        runs = out / RUNS
        final = runs / rid
        tmp = runs / f"{TMP_PREFIX}{rid}-{uuid.uuid4().hex[:8]}"
        try:
            write_result(payload["result"], tmp)
            if final.exists():          # already committed (e.g. a duplicate task): keep the first
                return
            os.rename(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        f = out / FAILED / f"{rid}.json"
        if f.exists():
            f.unlink()
    else:
        (out / FAILED).mkdir(parents=True, exist_ok=True)
        rec = {"run_id": rid, "spec": payload["spec"], "traceback": payload["traceback"],
               "seconds": round(payload["seconds"], 3), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        _atomic_write_text(out / FAILED / f"{rid}.json", json.dumps(rec, indent=1, default=str))


def _clean_partial(out: Path) -> None:
    """Remove what a killed sweep may have left half-written (never a completed run)."""
    for d in (out, out / RUNS, out / FAILED):
        if d.is_dir():
            for p in d.iterdir():
                if p.name.startswith(TMP_PREFIX):
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def _acquire_lock(out: Path) -> Path:
    import psutil
    lock = out / LOCK
    if lock.exists():
        try:
            pid = int(lock.read_text().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if pid and pid != os.getpid() and psutil.pid_exists(pid):
            raise ParameterError(f"{out}: another sweep (pid {pid}) is writing to this store; wait for it or stop it")
    _atomic_write_text(lock, str(os.getpid()))
    return lock


def prepare_store(exp: Experiment, out: Path, resume: bool) -> list[dict[str, Any]]:
    """Create or reopen the store; return the full run plan. Refuses to mix experiments."""
    out = Path(out)
    from .results import check_writable
    check_writable(out)
    runs = plan(exp)
    stored = out / "experiment.toml"
    if stored.exists():
        try:
            old = load_experiment(stored)
        except ParameterError as exc:
            raise ParameterError(f"{out}: the stored experiment no longer loads ({exc}); use another --out") from None
        if old.hash() != exp.hash():
            raise ParameterError(f"{out}: holds experiment '{old.name}' with other settings (hash {old.hash()} != "
                                 f"{exp.hash()}); use another --out, or the same file and --scale to resume")
        if not resume and completed_runs(out):
            raise ParameterError(f"{out}: already holds {len(completed_runs(out))} completed run(s) of "
                                 f"'{exp.name}'; add --resume to complete it, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / RUNS).mkdir(exist_ok=True)
    _clean_partial(out)
    if not stored.exists():
        design = {"experiment": exp.name, "hash": exp.hash(), "seed": exp.spec.seed,
                  "design": exp.spec.design.model_dump(mode="json", exclude={"parameters"}),
                  "parameters": [{"name": p.name, "unit": p.unit, "low": p.low, "high": p.high, "values": p.values}
                                 for p in exp.parameters],
                  "runs": [{k: r[k] for k in ("index", "run_id", "scenario", "point", "params", "replicate", "seed")}
                           for r in runs]}
        _atomic_write_text(out / "design.json", json.dumps(design, indent=1, default=str))
        _atomic_write_text(stored, exp.to_toml())
    return runs


# --------------------------------------------------------------------------- backends
#: every run executes in a worker process with one BLAS/OpenMP thread: the raking's dense algebra
#: rounds differently with several threads, and Dask workers run single-threaded too, so this is
#: what makes the result tables byte-identical whatever the backend, the workers or the machine.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}


class _worker_env:
    """Set WORKER_ENV while worker processes are started (they inherit it), then restore."""

    def __enter__(self):
        self.old = {k: os.environ.get(k) for k in WORKER_ENV}
        os.environ.update(WORKER_ENV)

    def __exit__(self, *exc):
        for k, v in self.old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _pool_results(specs: list[dict], workers: int) -> Iterator[dict]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    ctx = mp.get_context("spawn")          # fresh interpreters: they read WORKER_ENV before numpy loads
    ex = ProcessPoolExecutor(max_workers=min(workers, len(specs)), mp_context=ctx, initializer=_ignore_sigint)
    try:
        with _worker_env():
            futs = {ex.submit(execute, s): s for s in specs}
        for f in as_completed(futs):
            try:
                yield f.result()
            except Exception as exc:  # noqa: BLE001 -- e.g. a worker killed by the OS
                yield {"ok": False, "run_id": futs[f]["run_id"], "spec": futs[f], "seconds": 0.0,
                       "traceback": f"worker failure: {exc!r}"}
    finally:
        procs = list(getattr(ex, "_processes", {}).values())
        ex.shutdown(wait=False, cancel_futures=True)
        for p in procs:          # workers ignore SIGINT: stop them now, their runs are not committed
            if p.is_alive():
                p.terminate()


def _dask_client(scheduler: str | None, cluster: str | None, workers: int):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ParameterError("the Dask backend needs the optional extra: pip install fabrique2040[dask]") from None
    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None
        except (OSError, TimeoutError) as exc:
            raise ParameterError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({exc})") from None
    if cluster != "local":
        raise ParameterError(f"--cluster must be 'local' (a Dask LocalCluster), got {cluster!r}")
    with _worker_env():
        lc = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          host="127.0.0.1", silence_logs=40)
    return Client(lc), lc


def _dask_results(specs: list[dict], client) -> Iterator[dict]:
    from dask.distributed import as_completed
    futs = client.map(execute, specs, pure=False, key=[f"fabrique-{s['run_id']}-{uuid.uuid4().hex[:6]}"
                                                       for s in specs])
    by_key = {f.key: s for f, s in zip(futs, specs)}
    try:
        for f in as_completed(futs):
            try:
                yield f.result()
            except Exception as exc:  # noqa: BLE001 -- KilledWorker etc.
                s = by_key[f.key]
                yield {"ok": False, "run_id": s["run_id"], "spec": s, "seconds": 0.0,
                       "traceback": f"dask worker failure: {exc!r}"}
            f.release()
    finally:
        client.cancel(futs)


# --------------------------------------------------------------------------- sweep
@dataclass
class SweepReport:
    out: str
    experiment: str
    backend: str
    workers: int
    total: int
    skipped: int = 0
    done: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def runs_per_minute(self) -> float:
        return 60.0 * (self.done + self.failed) / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["runs_per_minute"] = round(self.runs_per_minute, 2)
        d["seconds"] = round(self.seconds, 3)
        return d


def sweep(experiment: Experiment | str | Path, out: str | Path, workers: int | None = None,
          scheduler: str | None = None, cluster: str | None = None, resume: bool = False,
          scale: float | None = None, max_runs: int | None = None,
          on_result: Callable[[dict[str, Any], "SweepReport"], None] | None = None,
          backend: str | None = None) -> SweepReport:
    """Run (or resume) every run of an experiment into the store ``out``.

    workers: local worker processes (default: all cores).
    backend: 'pool' (default), 'dask' (implied by scheduler/cluster) or
    'inline' (in this process, for debugging: not guaranteed byte-identical
    to the others when this process's BLAS uses several threads).
    scheduler: address of an existing Dask scheduler ('tcp://host:port');
    cluster='local': start a Dask LocalCluster with ``workers`` processes.
    resume: skip completed runs (required when the store already has some).
    scale, max_runs: quick-check overrides (max_runs limits this invocation).
    """
    exp = experiment if isinstance(experiment, Experiment) else load_experiment(experiment)
    exp = exp.with_overrides(scale=scale)
    if workers is not None and workers < 1:
        raise ParameterError(f"--workers must be at least 1, got {workers}")
    if max_runs is not None and max_runs < 1:
        raise ParameterError(f"--max-runs must be at least 1, got {max_runs}")
    if scheduler and cluster:
        raise ParameterError("give either --scheduler (an existing Dask cluster) or --cluster local, not both")
    out = Path(out)
    runs = prepare_store(exp, out, resume)
    lock = _acquire_lock(out)
    try:
        done = completed_runs(out)
        pending = [r for r in runs if r["run_id"] not in done]
        if max_runs is not None:
            pending = pending[:max_runs]
        n = workers or os.cpu_count() or 1
        kind = backend or ("dask" if (scheduler or cluster) else "pool")
        rep = SweepReport(out=str(out), experiment=exp.name, backend=kind, workers=n, total=len(runs),
                          skipped=len(runs) - len([r for r in runs if r["run_id"] not in done]))
        t0 = time.perf_counter()
        client = lc = None
        if not pending:
            return rep
        if kind == "inline":
            results: Iterable[dict] = (execute(s, overlap_metrics=None) for s in pending)
        elif kind == "pool":
            results = _pool_results(pending, n)
        elif kind == "dask":
            client, lc = _dask_client(scheduler, cluster or ("local" if not scheduler else None), n)
            results = _dask_results(pending, client)
        else:
            raise ParameterError(f"unknown backend {kind!r}; allowed: pool, dask, inline")
        try:
            for payload in results:
                try:
                    commit(out, payload)
                except (OSError, OutputError) as exc:   # disk full etc.: stop, keep what is complete
                    cause = exc.__cause__ if isinstance(exc, OutputError) and exc.__cause__ else exc
                    raise StoreWriteError(
                        f"{out}: could not write run {payload['run_id']} into the store: "
                        f"{getattr(cause, 'strerror', None) or cause}; the sweep stopped, "
                        f"{len(completed_runs(out))} of {len(runs)} runs are complete and intact (no partial run "
                        f"is left); free some space and run the same command with --resume") from exc
                if payload["ok"]:
                    rep.done += 1
                else:
                    rep.failed += 1
                    rep.failures.append(payload["run_id"])
                rep.seconds = time.perf_counter() - t0
                if on_result:
                    on_result(payload, rep)
        except KeyboardInterrupt:
            raise SweepInterrupted(f"interrupted: {len(completed_runs(out))} of {len(runs)} runs are complete in "
                                   f"{out}; run the same command with --resume to complete the rest") from None
        finally:
            close = getattr(results, "close", None)
            if close:
                close()
            if client is not None:
                client.close()
            if lc is not None:
                lc.close()
        rep.seconds = time.perf_counter() - t0
        return rep
    finally:
        lock.unlink(missing_ok=True)


# --------------------------------------------------------------------------- reading a store
def _design(folder: Path) -> dict[str, Any] | None:
    f = folder / "design.json"
    return json.loads(f.read_text(encoding="utf-8")) if f.exists() else None


def load_results(folder: str | Path, table: str = "metrics") -> pd.DataFrame:
    """One tidy DataFrame of a store (or of a single run folder).

    Columns: run_id, point, one column per design parameter, then the
    table's own columns (for metrics: scenario, replicate, seed, year,
    metric, group, value). Rows are sorted by run_id, then as written, so
    the table does not depend on how or in which order the runs were made.
    """
    folder = Path(folder)
    if table not in ("metrics", "personas", "flows"):
        raise ParameterError(f"table must be metrics, personas or flows, got {table!r}")
    if (folder / "metrics.parquet").exists():
        return pd.read_parquet(folder / f"{table}.parquet")
    if not (folder / RUNS).is_dir():
        raise ParameterError(f"{folder}: not a results store (no runs/ folder) nor a run folder (no metrics.parquet)")
    design = _design(folder)
    params = [p["name"] for p in design["parameters"]] if design else []
    info = {r["run_id"]: r for r in design["runs"]} if design else {}
    parts = []
    for rid in sorted(completed_runs(folder)):
        f = folder / RUNS / rid / f"{table}.parquet"
        if not f.exists():
            continue
        df = pd.read_parquet(f)
        if info.get(rid) is None:
            man = json.loads((folder / RUNS / rid / "manifest.json").read_text())
            info[rid] = man.get("experiment", {"point": 0, "params": {}})
        r = info[rid]
        df.insert(0, "point", int(r.get("point", 0)))
        df.insert(0, "run_id", rid)
        for j, p in enumerate(params):
            df.insert(2 + j, p, r["params"].get(p))
        parts.append(df)
    if not parts:
        return pd.DataFrame(columns=["run_id", "point"] + params)
    return pd.concat(parts, ignore_index=True)


def store_summary(folder: str | Path) -> dict[str, Any]:
    """Counts, timings and design of a store, for `fabrique results`."""
    folder = Path(folder)
    design = _design(folder)
    if design is None:
        raise ParameterError(f"{folder}: not a results store (no design.json); for one run use `fabrique report`")
    done = completed_runs(folder)
    failed = {k: v for k, v in failed_runs(folder).items() if k not in done}
    total = len(design["runs"])
    wall = 0.0
    for rid in done:
        try:
            wall += float(json.loads((folder / RUNS / rid / "manifest.json").read_text()).get("wall_time_total_s", 0))
        except (OSError, ValueError):
            pass
    return {"store": str(folder), "experiment": design["experiment"], "hash": design["hash"],
            "design": design["design"], "parameters": design["parameters"],
            "scenarios": sorted({r["scenario"] for r in design["runs"]}), "total": total, "completed": len(done),
            "failed": len(failed), "pending": total - len(done) - len(failed),
            "failures": {k: v["traceback"].strip().splitlines()[-1] for k, v in failed.items()},
            "model_seconds": round(wall, 2)}


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `fabrique sweep FILE --out DIR`")
