"""Struct-of-arrays state of persons and households.

Every person and household is one row in a set of numpy arrays. A person
who dies or emigrates gets ``alive = False``; arrays grow when people are
born, immigrate or leave home. Dead rows are dropped from time to time
(:meth:`simulator.FabriqueModel.compact`), so a row index is valid within a
year; ``Persons.pid`` is a person's stable id across the run (new persons
get new ids, never reused). Each household row carries a ``weight`` (real
households it stands for); persons inherit the weight of their household,
so every aggregate is ``sum(weight[mask])`` in real units.

Codes are small integers; their names live here and only here.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

# ---------------------------------------------------------------- codes
SEX = ("female", "male")

EDU = ("no_bac", "bac", "higher")  # highest diploma reached
EDU_NO_BAC, EDU_BAC, EDU_HIGHER = 0, 1, 2

STATUS = ("child", "student", "employed", "unemployed", "inactive", "retired")
CHILD, STUDENT, EMPLOYED, UNEMPLOYED, INACTIVE, RETIRED = range(6)

# Sectors: the 6 "filières d'excellence" (FACTS.md ECO-9) + other sectors.
SECTORS = (
    "aero_mechanics", "maritime_logistics", "health", "energy_environment",
    "digital_creative", "tourism_lifestyle", "agriculture", "public_services",
    "retail", "other",
)
SKILL = ("low", "mid", "high")

TENURE = ("owner", "private_rent", "social_rent", "with_parents_or_none")
OWNER, PRIVATE_RENT, SOCIAL_RENT, NO_DWELLING = range(4)
DWELLING_SIZE = ("small", "large")  # studio/T2 vs T3+
CONDITION = ("decent", "degraded", "energy_sink")

MODES = ("car", "carpool", "transit", "bike", "walk")
NO_MODE = -1

HH_TYPE = ("single", "couple", "couple_children", "single_parent", "other")


#: spare rows reserved when a column is reallocated by an append, as a share of its new length
SPARE_SHARE = 1 / 16


def _append_rows(obj, new) -> None:
    """Append the rows of ``new`` to every column of ``obj`` (same result as ``np.concatenate``).

    Each column is a view of the first ``n`` rows of a buffer with spare
    rows: an append copies only the new rows while the spare lasts, instead
    of the whole column (a yearly append of ~2 % of the persons then costs
    ~2 % of a full copy). A column the owner replaced by another array (e.g.
    after ``take``) is reallocated, with spare rows, at the next append. The
    buffers are not part of the state (not copied nor pickled: see
    ``__getstate__``). Views handed out before an append keep the old length.
    """
    spare = obj.__dict__.setdefault("_spare", {})   # column name -> (buffer, the view of it in use)
    for f in fields(obj):
        cur, add = getattr(obj, f.name), getattr(new, f.name)
        if cur.ndim != 1:
            setattr(obj, f.name, np.concatenate([cur, add]))
            continue
        n, k = cur.shape[0], add.shape[0]
        dt = np.result_type(cur, add)
        buf, view = spare.get(f.name, (None, None))
        if view is not cur or buf.shape[0] < n + k or buf.dtype != dt:
            buf = np.empty(n + k + max(int((n + k) * SPARE_SHARE), 1024), dtype=dt)
            buf[:n] = cur
        buf[n:n + k] = add
        view = buf[:n + k]
        spare[f.name] = (buf, view)
        setattr(obj, f.name, view)


def _take_rows(obj, keep: np.ndarray) -> None:
    """Keep only the rows of every column of ``obj`` in the boolean mask ``keep`` (order preserved)."""
    rows = np.flatnonzero(keep)          # one index for every column: faster than a mask per column
    for f in fields(obj):
        setattr(obj, f.name, getattr(obj, f.name)[rows])


def _state_without_spare(obj) -> dict:
    state = obj.__dict__.copy()
    state.pop("_spare", None)
    return state


@dataclass
class Persons:
    """One row per person ever present in the run (alive or not)."""

    age: np.ndarray          # int16, years
    sex: np.ndarray          # int8, index into SEX
    hh: np.ndarray           # intp (int64), household row: numpy gathers and bincounts take intp indices without
    #                          converting them (an int32 index costs a conversion pass in every p.hh gather)
    segment: np.ndarray      # int8, index into the persona segment list
    edu: np.ndarray          # int8, index into EDU
    status: np.ndarray       # int8, index into STATUS
    licence: np.ndarray      # bool, holds a driving licence
    income: np.ndarray       # float32, individual net income, EUR/month
    alive: np.ndarray        # bool, present in AMP (False once dead or emigrated)
    # labour
    job_pole: np.ndarray = field(default=None)      # int16, -1 if no job
    sector: np.ndarray = field(default=None)        # int8, -1 if no job
    skill: np.ndarray = field(default=None)         # int8, index into SKILL
    months_jobless: np.ndarray = field(default=None)  # int16, months out of work
    mentored: np.ndarray = field(default=None)      # int8, years of mentoring left
    training: np.ndarray = field(default=None)      # int8, years of training left
    # mobility
    mode: np.ndarray = field(default=None)          # int8, index into MODES, -1 none
    commute_min: np.ndarray = field(default=None)   # float32, one-way door-to-door, min
    mobility_cost: np.ndarray = field(default=None)  # float32, EUR/month
    pid: np.ndarray = field(default=None)           # int64, stable person id (row order of creation)

    _EXTRA = {
        "job_pole": (np.int16, -1), "sector": (np.int8, -1), "skill": (np.int8, 0),
        "months_jobless": (np.int16, 0), "mentored": (np.int8, 0), "training": (np.int8, 0),
        "mode": (np.int8, -1), "commute_min": (np.float32, 0.0), "mobility_cost": (np.float32, 0.0),
    }

    def __post_init__(self) -> None:
        n = self.age.size
        for name, (dt, fill) in self._EXTRA.items():
            if getattr(self, name) is None:
                setattr(self, name, np.full(n, fill, dtype=dt))
        if self.pid is None:
            self.pid = np.arange(n, dtype=np.int64)
        # next id to hand out (not a dataclass field): ids of dropped rows are never reused
        self._next_pid = int(self.pid.max()) + 1 if n else 0

    @property
    def n(self) -> int:
        return int(self.age.size)

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def append(self, new: "Persons") -> np.ndarray:
        """Append rows (with new person ids); returns the new row indices."""
        start = self.n
        first = max(self._next_pid, int(self.pid.max()) + 1 if self.n else 0)
        new.pid = np.arange(first, first + new.n, dtype=np.int64)
        self._next_pid = first + new.n
        _append_rows(self, new)
        return np.arange(start, self.n)

    def __getstate__(self) -> dict:
        """State for copy/pickle: the columns, without the append buffers' spare rows."""
        return _state_without_spare(self)

    def rows_of(self, pid: np.ndarray) -> np.ndarray:
        """Current row of each person id (-1 for ids no longer present); ids are increasing in row order."""
        pid = np.asarray(pid, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.pid, pid), max(self.n - 1, 0))
        return np.where((self.n > 0) & (self.pid[pos] == pid), pos, -1)

    def take(self, keep: np.ndarray) -> None:
        """Keep only the rows in the boolean mask ``keep`` (order preserved)."""
        _take_rows(self, keep)


@dataclass
class Households:
    """One row per household ever present (dissolved ones have size 0)."""

    pole: np.ndarray         # int16, home pole index
    weight: np.ndarray       # float64, real households this row stands for
    segment: np.ndarray      # int8, persona segment of the reference person
    hh_type: np.ndarray      # int8, index into HH_TYPE
    car: np.ndarray          # int8, number of cars (0, 1, 2)
    tenure: np.ndarray       # int8, index into TENURE
    size_class: np.ndarray   # int8, index into DWELLING_SIZE
    condition: np.ndarray    # int8, index into CONDITION
    housing_cost: np.ndarray  # float32, rent or mortgage, EUR/month
    energy_cost: np.ndarray   # float32, EUR/month
    years_waiting: np.ndarray = field(default=None)  # float32, years in the social-housing queue (0 = not queued)
    alive: np.ndarray = field(default=None)         # bool, household exists

    def __post_init__(self) -> None:
        n = self.pole.size
        if self.years_waiting is None:
            self.years_waiting = np.zeros(n, dtype=np.float32)
        if self.alive is None:
            self.alive = np.ones(n, dtype=bool)

    @property
    def n(self) -> int:
        return int(self.pole.size)

    def append(self, new: "Households") -> np.ndarray:
        """Append rows; returns the new row indices."""
        start = self.n
        _append_rows(self, new)
        return np.arange(start, self.n)

    def __getstate__(self) -> dict:
        """State for copy/pickle: the columns, without the append buffers' spare rows."""
        return _state_without_spare(self)

    def take(self, keep: np.ndarray) -> None:
        """Keep only the rows in the boolean mask ``keep`` (order preserved)."""
        _take_rows(self, keep)

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def consumption_units(adults: np.ndarray, kids: np.ndarray) -> np.ndarray:
    """OECD-modified equivalence scale used by INSEE: 1 for the first person aged 14+,
    0.5 for each other person aged 14+, 0.3 for each child under 14."""
    return 1.0 + 0.5 * np.maximum(adults - 1, 0) + 0.3 * kids


def person_weight(p: Persons, h: Households, rows: np.ndarray | None = None) -> np.ndarray:
    """Real persons each person row stands for (its household's weight); ``rows``: only those person rows."""
    return h.weight[p.hh if rows is None else p.hh[rows]]


def check_no_nan(p: Persons, h: Households) -> list[str]:
    """Names of state arrays holding NaN or inf (empty list = clean)."""
    bad = []
    for prefix, obj in (("persons", p), ("households", h)):
        for name, arr in obj.arrays().items():
            if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                bad.append(f"{prefix}.{name}")
    return bad


def compact_rows(a: np.ndarray | None, keep: np.ndarray, fill) -> np.ndarray | None:
    """A per-row array after compaction: padded with ``fill`` up to ``keep.size`` rows, then ``a[keep]``."""
    if a is None:
        return None
    if a.shape[0] < keep.size:
        pad = np.full((keep.size - a.shape[0],) + a.shape[1:], fill, dtype=a.dtype)
        a = np.concatenate([a, pad])
    return a[: keep.size][keep]


def remap_index(values: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """Row references (e.g. household rows) through ``mapping`` (old row -> new row, -1 dropped); -1 stays -1."""
    v = np.asarray(values)
    return np.where(v >= 0, mapping[np.maximum(v, 0)], -1).astype(v.dtype)
