"""FabriqueModel: the Mesa model of AMP, 2017 -> 2040.

State lives in numpy arrays (simulator.state); each yearly process is a
module of simulator.processes with ``step(model) -> events`` and, where it
has any, ``init(model)``, ``metrics(model, groups)`` and
``invariants(model)``. The eight named personas are Mesa agents on the pole
network (Mesa's discrete-space Network), bound to their person rows.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import time
import warnings
import weakref
import zlib
from typing import Any

import mesa
import numpy as np
from mesa.discrete_space import Network

from . import metrics as M
from . import state as S
from .agents import PersonaAgent
from .metrics_worker import CODE, STATIC, MetricsWorker, NoRoom
from .params import ParameterError
from .population import marginals_report, synthesize
from .scenario import Scenario, load_scenario, process_specs, resolved_params, scenario_hash

try:  # BLAS threads change the summation order of dense products (raking): pin them to one
    from threadpoolctl import ThreadpoolController as _ThreadpoolController
except ImportError:  # pragma: no cover - threadpoolctl is a dependency; without it results may vary
    _ThreadpoolController = None
_controller = None


def _one_blas_thread():
    """Context where BLAS uses one thread, so results do not depend on the machine's thread count.

    (Also faster here: the model's dense products are small, and oversubscribed BLAS threads on a
    loaded machine slowed the raking more than tenfold.)
    """
    global _controller
    if _ThreadpoolController is None:
        return contextlib.nullcontext()
    if _controller is None:   # scanning the loaded libraries is slow: once per process
        _controller = _ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


#: the yearly schedule (DESIGN.md): engagements, then the processes in this order
SCHEDULE: tuple[str, ...] = ("demography", "economy", "housing", "labour", "mobility")


#: person rows from which the metric rows are computed in a background process by default (overlap_metrics=None)
OVERLAP_MIN_ROWS = 50_000

#: processes another process needs in the same run
REQUIRES: dict[str, tuple[str, ...]] = {"labour": ("economy", "mobility")}


def select_processes(names: tuple[str, ...] | list[str] | None) -> list[str]:
    """The processes to run, in schedule order (None: all); checks names and requirements."""
    avail = scheduled_processes()
    if names is None:
        return avail
    names = list(names)
    unknown = sorted(set(names) - set(avail))
    if unknown:
        raise ParameterError(f"processes: unknown process(es) {unknown}; allowed: {avail}")
    for n in names:
        missing = [r for r in REQUIRES.get(n, ()) if r not in names]
        if missing:
            raise ParameterError(f"processes: '{n}' needs {missing} in the same run")
    return [n for n in avail if n in names]


def scheduled_processes() -> list[str]:
    """Processes of SCHEDULE whose module is present (each lands with its own issue)."""
    return [n for n in SCHEDULE if importlib.util.find_spec(f"simulator.processes.{n}") is not None]


class InvariantError(AssertionError):
    """Raised in strict mode when a model invariant fails."""


class FabriqueModel(mesa.Model):
    """Agent-based model of the Aix-Marseille-Provence metropolis.

    Keyword parameters (so ``mesa.batch_run`` can sweep them by name):
    scenario (shipped name or path), scale (fraction of the real population),
    seed, replicate, start_year/end_year (default: the scenario's), strict
    (check invariants every year), overrides ({process: {key: value}} on top
    of the scenario, validated like scenario values), processes (a subset of
    SCHEDULE to run, e.g. ("demography",); default all — parameters of every
    process are still loaded and validated), overlap_metrics (compute each
    year's metric rows in a background process while the next year runs,
    see simulator.metrics_worker; None: when the run has OVERLAP_MIN_ROWS
    person rows or more; sweep workers pass False; the rows are the same
    either way), compact_dead_share (drop dead rows when their share exceeds it;
    None: never).
    """

    def __init__(self, scenario: str | Scenario = "baseline", scale: float = 0.01, seed: int = 1,
                 replicate: int = 0, start_year: int | None = None, end_year: int | None = None,
                 strict: bool = False, overrides: dict[str, dict[str, Any]] | None = None,
                 territory=None, personas=None, processes: tuple[str, ...] | None = None,
                 overlap_metrics: bool | None = None, compact_dead_share: float | None = 0.1) -> None:
        super().__init__(seed=seed)
        self.overlap_metrics = overlap_metrics
        if compact_dead_share is not None and not 0 < compact_dead_share < 1:
            raise ParameterError(f"compact_dead_share must be in (0, 1) or None, got {compact_dead_share!r}")
        self.compact_dead_share = compact_dead_share
        self._metrics_worker = None     # simulator.metrics_worker.MetricsWorker when overlap_metrics
        self._metrics_pending = False
        with _one_blas_thread():
            self._init(scenario, scale, seed, replicate, start_year, end_year, strict, overrides, territory,
                       personas, processes)

    def _init(self, scenario, scale, seed, replicate, start_year, end_year, strict, overrides, territory,
              personas, processes=None) -> None:
        t0 = time.perf_counter()
        if not (isinstance(scale, (int, float)) and 0 < scale <= 1.0):
            raise ParameterError(f"scale must be in (0, 1], got {scale!r}")
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        self.scale = float(scale)
        self.seed = int(seed)
        self.replicate = int(replicate)
        self.strict = strict
        self.start_year = int(start_year or self.scenario.start_year)
        self.end_year = int(end_year or self.scenario.end_year)
        if self.end_year < self.start_year:
            raise ParameterError(f"end_year {self.end_year} is before start_year {self.start_year}")
        self.params = resolved_params(self.scenario)
        if overrides:
            from .params import check_override
            specs = process_specs()
            for proc, kv in overrides.items():
                if proc not in specs:
                    raise ParameterError(f"overrides: unknown process '{proc}'; allowed: {sorted(specs)}")
                for k, v in kv.items():
                    self.params[proc][k] = check_override(k, v, specs[proc], f"overrides.{proc}")
        self.scenario_hash = scenario_hash(self.scenario, self.params)
        self._streams: dict[str, np.random.Generator] = {}
        self.timings: dict[str, float] = {}

        from .personas import load_personas
        from .territory import load_territory
        self.territory = territory if territory is not None else load_territory()
        self.personas = personas if personas is not None else load_personas(pole_ids=self.territory.ids)
        for p in self.personas:
            if p.agent["home_pole"] not in self.territory.index:
                raise ParameterError(f"personas/{p.id}.toml: key 'agent.home_pole' = {p.agent['home_pole']!r} "
                                     f"is not a pole of the territory; allowed: {self.territory.ids}")
        self.segment_ids = [p.id for p in self.personas]
        self.processes = {name: importlib.import_module(f"simulator.processes.{name}")
                          for name in select_processes(processes)}
        self.engagements_active: dict[str, float] = {}
        if self.overlap_metrics is None:
            # measured (fabrique2040, 2017-2040): a background worker pays from ~0.03 of AMP (50,000 person rows)
            rows = self.scale * float(self.territory.population.sum())
            self.overlap_metrics = rows >= OVERLAP_MIN_ROWS and os.name == "posix"
        self.overlap_metrics = bool(self.overlap_metrics)
        if self.overlap_metrics and os.name != "posix":   # the worker is handed a socket by file descriptor
            warnings.warn("overlap_metrics needs a POSIX system: metrics computed in line", RuntimeWarning,
                          stacklevel=3)
            self.overlap_metrics = False
        if self.overlap_metrics:    # started now, so its start-up overlaps the population synthesis
            self._metrics_worker = MetricsWorker(self)
            self._worker_finalizer = weakref.finalize(self, self._metrics_worker.close)
        self._timed("setup", t0)

        t1 = time.perf_counter()
        syn = synthesize(self.territory, self.personas, self.params["population"], self.scale,
                         self.stream("population"))
        self.persons, self.households = syn.persons, syn.households
        self.named = syn.named
        self.named_households = np.unique(self.persons.hh[list(self.named.values())])
        self.rake_iterations, self.rake_max_rel_error = syn.rake_iterations, syn.rake_max_rel_error
        self._timed("population", t1)

        self.year = self.start_year
        for name, mod in self.processes.items():
            if hasattr(mod, "init"):
                t = time.perf_counter()
                mod.init(self)
                self._timed(name, t)

        self.network = Network(self.territory.graph, random=self.random)
        self.persona_agents = {pid: PersonaAgent(self, next(p for p in self.personas if p.id == pid), row)
                               for pid, row in sorted(self.named.items(),
                                                      key=lambda kv: self.segment_ids.index(kv[0]))}
        self._metric_rows: list[tuple] = []
        self.persona_rows: list[dict[str, Any]] = []
        self._flow_rows: list[tuple] = []
        self._last_population = self.population()
        self.datacollector = mesa.DataCollector(model_reporters={
            "year": "year", "population": lambda m: m.population(),
            "households": lambda m: float(m.households.weight[m.households.alive].sum()),
        })
        self.collect(events=None)
        self.running = self.year < self.end_year

    # ------------------------------------------------------------ plumbing
    def stream(self, name: str) -> np.random.Generator:
        """Random stream of one process, derived from the model seed and the process name.

        Keyed by name (not by order of creation), so adding a process never
        shifts the draws of the others.
        """
        if name not in self._streams:
            ss = np.random.SeedSequence(entropy=self.seed, spawn_key=(zlib.crc32(name.encode()),))
            self._streams[name] = np.random.default_rng(ss)
        return self._streams[name]

    def _timed(self, name: str, t0: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0

    def population(self) -> float:
        return float(self.households.weight[self.persons.hh[self.persons.alive]].sum())

    def on_new_households(self, rows: np.ndarray, reason: str) -> None:
        """Hook called when households are created (leaving home, immigration)."""
        for mod in self.processes.values():
            if hasattr(mod, "on_new_households"):
                mod.on_new_households(self, rows, reason)

    def persona_extra(self, row: int, hh: int) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        for mod in self.processes.values():
            if hasattr(mod, "persona_extra"):
                extra.update(mod.persona_extra(self, row, hh))
        return extra

    # ------------------------------------------------------------ schedule
    def step(self) -> None:
        """One simulated year: engagements, then the processes in SCHEDULE order, then metrics."""
        with _one_blas_thread():
            self._step()

    def _step(self) -> None:
        if self.year >= self.end_year:
            self.running = False
            return
        self.year += 1
        events: dict[str, float] = {}
        t = time.perf_counter()
        if self.compact_dead_share is not None and self._dead_share() > self.compact_dead_share:
            self.compact()
            self._timed("compact", t)
        t = time.perf_counter()
        self.apply_engagements()
        self._timed("engagements", t)
        for name, mod in self.processes.items():
            t = time.perf_counter()
            out = mod.step(self)
            self._timed(name, t)
            if out:
                events.update(out)
        t = time.perf_counter()
        if self.strict:
            self.check_invariants(events)
        self.collect(events)
        self._timed("metrics", t)
        self.running = self.year < self.end_year
        if not self.running:  # a finished model must be collectable (mesa 3.3 keeps models alive)
            self.wait_metrics()
            from .results import release_model
            release_model(self)

    def _dead_share(self) -> float:
        p, h = self.persons, self.households
        return max(1.0 - np.count_nonzero(p.alive) / max(p.n, 1), 1.0 - np.count_nonzero(h.alive) / max(h.n, 1))

    def compact(self) -> None:
        """Drop the rows of persons and households no longer in AMP (dead, emigrated, dissolved).

        Every yearly pass over the arrays then costs what the living
        population costs. Row indices change (order is kept); ``persons.pid``
        is the stable id (``persons.rows_of(pids)``). The named personas, the
        persona agents and every process's per-row state (``on_compact``
        hooks) are remapped. Called at the start of a year when the share of
        dead rows exceeds ``compact_dead_share``.
        """
        p, h = self.persons, self.households
        named_rows = np.fromiter(self.named.values(), dtype=np.int64, count=len(self.named))
        keep_p = p.alive.copy()
        keep_p[named_rows] = True
        keep_h = h.alive.copy()
        keep_h[self.named_households] = True
        keep_h[p.hh[keep_p]] = True
        pmap = np.full(p.n, -1, dtype=np.int64)
        pmap[keep_p] = np.arange(np.count_nonzero(keep_p))
        hmap = np.full(h.n, -1, dtype=np.int64)
        hmap[keep_h] = np.arange(np.count_nonzero(keep_h))
        p.take(keep_p)
        h.take(keep_h)
        p.hh = hmap[p.hh]                  # intp, as built by the synthesis
        self.named = {k: int(pmap[v]) for k, v in self.named.items()}
        self.named_households = hmap[self.named_households]
        for agent in self.persona_agents.values():
            agent.row = int(pmap[agent.row])
            agent.members = pmap[agent.members]
        for mod in self.processes.values():
            if hasattr(mod, "on_compact"):
                mod.on_compact(self, keep_p, keep_h, pmap, hmap)

    def apply_engagements(self) -> None:
        if importlib.util.find_spec("simulator.engagements") is None:
            return
        importlib.import_module("simulator.engagements").apply(self)

    def run_model(self) -> None:
        while self.running:
            self.step()

    # ------------------------------------------------------------ outputs
    def collect(self, events: dict[str, float] | None) -> None:
        """Record the year: persona rows, flows and the DataCollector now; the metric rows from a snapshot.

        With ``overlap_metrics`` (default from 50,000 person rows) the metric
        rows of year t are computed by a background process from a copy of
        the state (taken here, into shared memory) while the processes of
        year t+1 run; the rows are the same as computed in line (the copy is
        the state at this point and metrics draw no random numbers).
        ``metric_rows`` waits for the pending year.
        """
        self.datacollector.collect(self)
        for agent in self.persona_agents.values():
            self.persona_rows.append(agent.record(self.year))
        self.wait_metrics()
        if self.overlap_metrics:
            state, unread = self._metrics_state()
            try:
                self._metrics_worker.submit(state, unread, events)
                self._metrics_pending = True
                return
            except NoRoom as exc:        # e.g. a container's small /dev/shm: in line from now on, same rows
                warnings.warn(f"metrics computed in line from now on: {exc}", RuntimeWarning, stacklevel=2)
                self.overlap_metrics = False
                self._worker_finalizer()
                self._metrics_worker = None
        rows, flows, _ = self._compute_metrics(self, events)
        self._metric_rows += rows
        self._flow_rows += flows

    @staticmethod
    def _compute_metrics(model: "FabriqueModel", events: dict[str, float] | None
                         ) -> tuple[list[tuple], list[tuple], float]:
        """Metric rows and flow rows of the model's current year (pure functions of the state), and seconds."""
        t = time.perf_counter()
        g = M.Groups(model)
        rows = M.demography_metrics(model, g, events)
        rows += M.status_shares(model, g)
        flows: list[tuple] = []
        for mod in model.processes.values():
            if hasattr(mod, "metrics"):
                rows += mod.metrics(model, g)
            if hasattr(mod, "flows"):
                flows += mod.flows(model)
        y = (model.year,)
        return [y + r for r in rows], [y + r for r in flows], time.perf_counter() - t

    #: attributes not sent to the metrics worker: fixed inputs sent once (metrics_worker.STATIC), run plumbing,
    #: and outputs the model keeps itself
    _NOT_SENT = frozenset(STATIC) | {"processes", "network", "persona_agents", "datacollector", "_metric_rows",
                                     "persona_rows", "_flow_rows", "_streams", "timings", "_metrics_worker",
                                     "_worker_finalizer", "_metrics_pending", "metrics_block_bytes", "rng", "random",
                                     "_rng", "_agents", "_agents_by_type", "_all_agents", "_user_step", "step",
                                     "_base_params"}

    def _metrics_state(self) -> tuple[dict[str, Any], list[Any]]:
        """The attributes the metric functions may read, and the objects inside them that no metric reads.

        Every attribute a process may change in place next year (arrays,
        state dataclasses, parameter dicts) is sent; ``METRICS_UNREAD``
        entries of the processes ("attr" or "attr.field") are left out.
        """
        skip = set(self._NOT_SENT)
        unread: list[Any] = []
        for path in [p for mod in self.processes.values() for p in getattr(mod, "METRICS_UNREAD", ())] + \
                ["persons.pid"]:             # the stable ids: no metric reads them
            attr, _, field = path.partition(".")
            if not field:
                skip.add(attr)
            elif hasattr(self, attr):
                obj = getattr(getattr(self, attr), field, None)
                if obj is not None:
                    unread.append(obj)
        return {k: v for k, v in self.__dict__.items() if k not in skip and not isinstance(v, CODE)}, unread

    def wait_metrics(self) -> None:
        """Wait for the metric rows being computed in the background (re-raises its error)."""
        pending, self._metrics_pending = self._metrics_pending, False
        try:
            if pending:
                rows, flows, dt = self._metrics_worker.result()   # an error of the metric functions is raised here
                self._metric_rows += rows
                self._flow_rows += flows
                self.timings["metrics_background"] = self.timings.get("metrics_background", 0.0) + dt
        finally:
            if not self.running and self._metrics_worker is not None:
                self.metrics_block_bytes = self._metrics_worker.block_bytes
                self.timings["metrics_copy"] = self._metrics_worker.copy_s
                self._worker_finalizer()          # closes the worker (once)
                self._metrics_worker = None

    @property
    def metric_rows(self) -> list[tuple]:
        """Tidy metric rows (year, metric, group, value) of every collected year."""
        self.wait_metrics()
        return self._metric_rows

    @property
    def flow_rows(self) -> list[tuple]:
        """Commuter flow rows (year, home pole, work pole, mode, commuters) of every collected year."""
        self.wait_metrics()
        return self._flow_rows

    def check_invariants(self, events: dict[str, float]) -> None:
        errors: list[str] = []
        pop = self.population()
        expected = self._last_population + events.get("births", 0) - events.get("deaths", 0) \
            + events.get("net_migration", 0)
        if abs(pop - expected) > 1e-6 * max(pop, 1.0):
            errors.append(f"population accounting: {pop:.3f} != {expected:.3f}")
        self._last_population = pop
        bad = S.check_no_nan(self.persons, self.households)
        if bad:
            errors.append(f"NaN/inf in {bad}")
        p = self.persons
        if np.any(p.alive & (p.age < 0)):
            errors.append("negative age")
        dead_hh = ~self.households.alive[p.hh[p.alive]]
        if dead_hh.any():
            errors.append(f"{int(dead_hh.sum())} living persons in dissolved households")
        for name, mod in self.processes.items():
            if hasattr(mod, "invariants"):
                errors += [f"{name}: {e}" for e in mod.invariants(self)]
        if errors:
            raise InvariantError(f"year {self.year}: " + "; ".join(errors))

    def marginals(self) -> list[dict[str, Any]]:
        return marginals_report(self.persons, self.households, self.territory, self.params["population"])
