"""Poles and links of the metropolis, and per-mode travel-time skims.

The territory is two data files in ``scenarios/territory/``:

* ``poles.toml``: one ``[[pole]]`` per zone (population, jobs by sector,
  dwellings by tenure, prices, rents ...), a ``[meta]`` table of
  ``{value, unit, source}`` entries and a ``[sources]`` table giving the unit
  and source of every pole key;
* ``links.toml``: undirected ``[[road]]`` links, ``[[transit]]`` lines and the
  network parameters in ``[meta]`` (terminal time, speeds, transfer penalty).

:func:`load_territory` validates both files (unknown keys, ranges, dangling
references, connectivity, totals) and returns a :class:`Territory` of numpy
arrays. Its skim methods compute n_poles x n_poles matrices with
``scipy.sparse.csgraph`` shortest paths; every supply lever a scenario may
change (link times, headways, in-vehicle times, fares, active lines) is an
argument, never a hidden constant.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Sequence

import networkx as nx
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from scipy import sparse
from scipy.sparse.csgraph import connected_components, dijkstra

from simulator.params import ParameterError, check_source, data_root, parse_params, read_toml, spec
from simulator.state import SECTORS, TENURE

TENURES = TENURE[:3]  # owner, private_rent, social_rent
KINDS = ("metro_core", "urban", "suburban", "periurban", "industrial_port")
TRANSIT_MODES = ("rail", "coach", "metro_tram", "bhns", "bus")
ROAD_TYPES = ("motorway", "urban_motorway", "expressway", "main_road", "urban_arterial")
POP_JOBS_TOLERANCE = 0.005  # relative gap allowed between pole sums and meta totals
MAX_SPEED_KMH = 150.0      # a road link faster than this is a data error
_EPS = 1e-9                # stands for a zero-cost edge in sparse graphs

# ---------------------------------------------------------------- file schemas

_NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]
_Pos = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def _f(desc: str, **kw: Any) -> Any:
    """A finite-number field with its allowed range written out for error messages."""
    return Field(description=desc, allow_inf_nan=False, **kw)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)


class PoleSpec(_Strict):
    id: str = Field(min_length=1, description="a non-empty unique string id, e.g. 'Z01'")
    name: str = Field(min_length=1, description="a non-empty string")
    territory: str = Field(min_length=1, description="a non-empty string")
    kind: Literal[KINDS] = Field(description="one of " + ", ".join(KINDS))
    lat: float = _f("latitude in degrees within [42.8, 44.2] (AMP area)", ge=42.8, le=44.2)
    lon: float = _f("longitude in degrees within [4.4, 6.2] (AMP area)", ge=4.4, le=6.2)
    population: float = _f("persons, a finite number >= 0", ge=0)
    intra_km: float = _f("km, a finite number in (0, 50]", gt=0, le=50)
    transit_access_min: float = _f("min, a finite number in [0, 120]", ge=0, le=120)
    jobs: dict[str, _NonNeg] = Field(description="a table with exactly the sectors "
                                     + ", ".join(SECTORS) + " (jobs, finite >= 0)")
    dwellings: dict[str, _NonNeg] = Field(description="a table with exactly the tenures "
                                          + ", ".join(TENURES) + " (dwellings, finite >= 0)")
    vacancy_rate: float = _f("a share in [0, 1]", ge=0, le=1)
    small_share: float = _f("a share in [0, 1]", ge=0, le=1)
    degraded_share: float = _f("a share in [0, 1]; degraded_share + energy_sink_share <= 1", ge=0, le=1)
    energy_sink_share: float = _f("a share in [0, 1]; degraded_share + energy_sink_share <= 1", ge=0, le=1)
    price_eur_m2: float = _f("EUR/m2, a finite number in (0, 50000]", gt=0, le=50_000)
    rent_eur_m2: float = _f("EUR/m2/month, a finite number in (0, 100]", gt=0, le=100)
    income_index: float = _f("ratio to the AMP median, a finite number in (0, 10]", gt=0, le=10)
    land_ha_available: float = _f("ha, a finite number in [0, 100000]", ge=0, le=100_000)
    notes: str | None = Field(default=None, description="optional free text")

    @field_validator("jobs")
    @classmethod
    def _sectors(cls, v: dict[str, float]) -> dict[str, float]:
        if set(v) != set(SECTORS):
            raise ValueError(f"missing key(s) {sorted(set(SECTORS) - set(v))}, "
                             f"unknown key(s) {sorted(set(v) - set(SECTORS))}")
        return v

    @field_validator("dwellings")
    @classmethod
    def _tenures(cls, v: dict[str, float]) -> dict[str, float]:
        if set(v) != set(TENURES):
            raise ValueError(f"missing key(s) {sorted(set(TENURES) - set(v))}, "
                             f"unknown key(s) {sorted(set(v) - set(TENURES))}")
        return v

    @model_validator(mode="after")
    def _condition(self) -> "PoleSpec":
        if self.degraded_share + self.energy_sink_share > 1 + 1e-9:
            raise ValueError(f"keys 'degraded_share' + 'energy_sink_share' = "
                             f"{self.degraded_share + self.energy_sink_share:g}; allowed: a sum <= 1")
        return self


class RoadSpec(_Strict):
    from_: str = Field(alias="from", min_length=1, description="a pole id of poles.toml")
    to: str = Field(min_length=1, description="a pole id of poles.toml, different from 'from'")
    road: str = Field(min_length=1, description="a non-empty road name")
    type: Literal[ROAD_TYPES] = Field(description="one of " + ", ".join(ROAD_TYPES))
    length_km: float = _f("km, a finite number in (0, 300]", gt=0, le=300)
    fftime_min: float = _f(f"min, a finite number in (0, 600] with length_km/fftime <= {MAX_SPEED_KMH:g} km/h",
                           gt=0, le=600)
    capacity_veh_h: float = _f("veh/h per direction, a finite number in (0, 20000]", gt=0, le=20_000)

    @model_validator(mode="after")
    def _speed(self) -> "RoadSpec":
        if self.length_km / self.fftime_min * 60 > MAX_SPEED_KMH:
            raise ValueError(f"keys 'length_km'/'fftime_min' imply a free-flow speed of "
                             f"{self.length_km / self.fftime_min * 60:.0f} km/h; allowed: <= {MAX_SPEED_KMH:g} km/h")
        return self


class TransitSpec(_Strict):
    id: str = Field(min_length=1, description="a non-empty unique line id")
    name: str = Field(min_length=1, description="a non-empty string")
    mode: Literal[TRANSIT_MODES] = Field(description="one of " + ", ".join(TRANSIT_MODES))
    stops: list[str] = Field(min_length=2, description="a list of >= 2 distinct pole ids of poles.toml")
    ivt_min: list[_Pos] = Field(min_length=1, description="a list of len(stops)-1 in-vehicle times, min, finite > 0")
    headway_min: float = _f("min, a finite number in (0, 1440]", gt=0, le=1440)
    capacity_pax_h: float = _f("pax/h per direction, a finite number in (0, 100000]", gt=0, le=100_000)
    fare_eur: float = _f("EUR, a finite number in [0, 100]", ge=0, le=100)
    opened: int = Field(ge=1800, le=2100, description="a whole year in [1800, 2100]")
    notes: str | None = Field(default=None, description="optional free text")

    @model_validator(mode="after")
    def _lengths(self) -> "TransitSpec":
        if len(self.ivt_min) != len(self.stops) - 1:
            raise ValueError(f"key 'ivt_min' has {len(self.ivt_min)} values but {len(self.stops)} stops; "
                             f"allowed: len(stops) - 1 = {len(self.stops) - 1} values")
        if len(set(self.stops)) != len(self.stops):
            raise ValueError(f"key 'stops' {self.stops} serves a pole twice; allowed: distinct pole ids")
        return self


class _SourceEntry(_Strict):
    unit: str = Field(description="a unit string")
    source: str = Field(description="a source string")


POLE_META = {
    "year": spec("yr", 2000, 2100, kind="int"),
    "population_total": spec("persons", 1, 1e8),
    "jobs_total": spec("jobs", 1, 1e8),
}
LINK_META = {
    "terminal_min": spec("min", 0, 60),
    "walk_speed_kmh": spec("km/h", 1, 10),
    "bike_speed_kmh": spec("km/h", 5, 40),
    "transfer_penalty_min": spec("min", 0, 60),
    "intra_speed_kmh": spec("km/h", 3, 120),
    "urban_fare_eur": spec("EUR", 0, 50),
    "local_headway_min": spec("min", 0.5, 1440, kind="table", choices=KINDS),
    "local_speed_kmh": spec("km/h", 1, 120, kind="table", choices=KINDS),
}


def _model_error(path: Path, where: str, exc: ValidationError, model: type[BaseModel]) -> ParameterError:
    """One message: file, item, key, problem, allowed."""
    e = exc.errors()[0]
    loc = [str(x) for x in e["loc"]]
    fields = {(f.alias or n): f for n, f in model.model_fields.items()}
    key = loc[0] if loc else "?"
    if e["type"] == "extra_forbidden":
        msg = f"unknown key '{key}'; allowed keys: {sorted(fields)}"
    elif e["type"] == "missing":
        msg = f"missing key '{key}'; allowed: {fields[key].description}" if key in fields else f"missing key '{key}'"
    elif not loc:  # a check across several keys: its message names them and what is allowed
        msg = str(e["msg"]).removeprefix("Value error, ")
    else:
        allowed = fields[key].description if key in fields else "see the schema"
        got = e.get("input")
        got_txt = "" if isinstance(got, (dict, BaseModel)) and not loc[1:] else f" (got {got!r})"
        detail = ".".join(loc)
        msg = f"key '{detail}': {str(e['msg']).removeprefix('Value error, ')}{got_txt}; allowed: {allowed}"
    return ParameterError(f"{path}: {where}: {msg}")


def _validate(model: type[BaseModel], raw: Any, path: Path, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ParameterError(f"{path}: {where}: expected a table, got {raw!r}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _model_error(path, where, exc, model) from None


def _check_top(data: Mapping[str, Any], allowed: Sequence[str], path: Path) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ParameterError(f"{path}: unknown top-level key(s) {unknown}; allowed: {list(allowed)}")
    missing = sorted(set(allowed) - set(data))
    if missing:
        raise ParameterError(f"{path}: missing top-level table(s) {missing}")


def _check_sources(raw: Any, keys: Sequence[str], path: Path) -> dict[str, tuple[str, str]]:
    if not isinstance(raw, dict):
        raise ParameterError(f"{path}: [sources] must be a table of key = {{unit, source}}")
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        raise ParameterError(f"{path}: [sources]: unknown key(s) {unknown}; allowed keys: {sorted(keys)}")
    missing = sorted(set(keys) - set(raw))
    if missing:
        raise ParameterError(f"{path}: [sources]: missing unit/source for key(s) {missing}")
    out = {}
    for k, v in raw.items():
        entry = _validate(_SourceEntry, v, path, f"[sources] key '{k}'")
        check_source(entry.source, f"{path}: [sources] key '{k}'")
        out[k] = (entry.unit, entry.source)
    return out


# ---------------------------------------------------------------- territory


def haversine_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    """Great-circle distance in km (vectorised; mean Earth radius 6371.0088 km)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


@dataclass
class TransitLine:
    id: str
    name: str
    mode: str
    stops: np.ndarray       # int pole indices, in order
    ivt_min: np.ndarray     # float, len(stops) - 1
    headway_min: float
    capacity_pax_h: float
    fare_eur: float
    opened: int
    notes: str = ""


@dataclass
class Territory:
    """Poles, links and network parameters as arrays (pole order = file order)."""

    ids: list[str]
    names: list[str]
    territory: list[str]
    kind: list[str]
    lat: np.ndarray
    lon: np.ndarray
    population: np.ndarray
    intra_km: np.ndarray
    transit_access_min: np.ndarray
    vacancy_rate: np.ndarray
    small_share: np.ndarray
    degraded_share: np.ndarray
    energy_sink_share: np.ndarray
    price_eur_m2: np.ndarray
    rent_eur_m2: np.ndarray
    income_index: np.ndarray
    land_ha_available: np.ndarray
    jobs: np.ndarray            # (n_poles, len(SECTORS))
    dwellings: np.ndarray       # (n_poles, 3): owner, private_rent, social_rent
    index: dict[str, int]
    # directed road links (each undirected [[road]] gives links 2k and 2k+1)
    road_from: np.ndarray
    road_to: np.ndarray
    road_length_km: np.ndarray
    road_fftime_min: np.ndarray
    road_capacity_veh_h: np.ndarray
    road_name: list[str]
    road_type: list[str]
    # transit lines
    lines: list[TransitLine]
    line_ids: list[str]
    line_mode: list[str]
    line_headway_min: np.ndarray
    line_capacity_pax_h: np.ndarray
    line_fare_eur: np.ndarray
    line_opened: np.ndarray
    # meta
    year: int
    population_total: float
    jobs_total: float
    terminal_min: float
    walk_speed_kmh: float
    bike_speed_kmh: float
    transfer_penalty_min: float
    intra_speed_kmh: float
    urban_fare_eur: float
    local_headway_min: np.ndarray   # per pole, from its kind
    local_speed_kmh: np.ndarray     # per pole, from its kind
    graph: nx.MultiGraph
    notes: list[str] = field(default_factory=list)
    sources: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    folder: Path | None = None

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def n_links(self) -> int:
        return int(self.road_from.size)

    @property
    def n_lines(self) -> int:
        return len(self.lines)

    def __post_init__(self) -> None:
        self._road_link = {(int(i), int(j)): k for k, (i, j) in enumerate(zip(self.road_from, self.road_to))}

    # ------------------------------------------------------------ helpers
    def _per_link(self, x: Any, name: str, size: int, *, allow_zero: bool = False) -> np.ndarray:
        a = np.broadcast_to(np.asarray(x, dtype=float), (size,)).astype(float) if np.ndim(x) == 0 \
            else np.asarray(x, dtype=float)
        if a.shape != (size,):
            raise ParameterError(f"{name}: expected {size} values, got shape {a.shape}")
        if not np.all(np.isfinite(a)) or np.any(a < 0) or (not allow_zero and np.any(a <= 0)):
            raise ParameterError(f"{name}: values must be finite and {'>= 0' if allow_zero else '> 0'}")
        return a

    def straight_km(self) -> np.ndarray:
        """Haversine distance between pole centroids, km (n x n)."""
        return haversine_km(self.lat[:, None], self.lon[:, None], self.lat[None, :], self.lon[None, :])

    # ------------------------------------------------------------ road
    def road_skim(self, link_time_min: Any = None, intra_speed_kmh: float | None = None,
                  terminal_min: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Car door-to-door skim on the directed road links.

        ``link_time_min``: per directed link time (default free flow), e.g. from
        a congestion model. Returns ``(time_min, dist_km, pred)``: time =
        shortest path + ``terminal_min`` off the diagonal, diagonal =
        ``intra_km / intra_speed_kmh``; dist = length along that path (diagonal
        ``intra_km``); pred = csgraph predecessor matrix (for
        :meth:`road_path_links`).
        """
        t = self.road_fftime_min if link_time_min is None else \
            self._per_link(link_time_min, "road_skim: link_time_min", self.n_links)
        speed = self.intra_speed_kmh if intra_speed_kmh is None else float(intra_speed_kmh)
        term = self.terminal_min if terminal_min is None else float(terminal_min)
        if not (speed > 0 and np.isfinite(speed)) or not (term >= 0 and np.isfinite(term)):
            raise ParameterError("road_skim: intra_speed_kmh must be > 0 and terminal_min >= 0")
        time, pred = dijkstra(self.road_graph(np.maximum(t, _EPS)), directed=True, return_predecessors=True)
        dist = self._path_length_km(pred)
        dist[~np.isfinite(time)] = np.inf
        off = ~np.eye(self.n, dtype=bool)
        time = np.where(off, time + term, self.intra_km / speed * 60.0)
        np.fill_diagonal(dist, self.intra_km)
        return time, dist, pred

    def road_graph(self, link_weight: np.ndarray) -> sparse.csr_matrix:
        """Directed road graph (n x n CSR) with one weight per link; the sparsity structure is built once."""
        if getattr(self, "_csr", None) is None or self._csr[0] != self.n_links:
            order = np.lexsort((self.road_to, self.road_from))
            indptr = np.r_[0, np.cumsum(np.bincount(self.road_from, minlength=self.n))].astype(np.int32)
            self._csr = (self.n_links, order, self.road_to[order].astype(np.int32), indptr)
        _, order, indices, indptr = self._csr
        return sparse.csr_matrix((np.asarray(link_weight, dtype=np.float64)[order], indices, indptr),
                                 shape=(self.n, self.n))

    def _path_length_km(self, pred: np.ndarray) -> np.ndarray:
        """Length (km) of each OD shortest path in ``pred`` (n x n), cached by path tree and link lengths.

        Shortest-path trees change rarely between the iterations of an
        equilibrium, so the incidence walk is done once per distinct tree.
        """
        cache = getattr(self, "_len_cache", None)
        if cache is None or len(cache) > 256:
            cache = self._len_cache = {}
        key = (np.asarray(pred).tobytes(), self.road_length_km.tobytes())
        dist = cache.get(key)
        if dist is None:
            dist = cache[key] = np.asarray(self.road_path_links(pred) @ self.road_length_km).reshape(self.n, self.n)
        return dist.copy()

    def road_path_links(self, pred: np.ndarray) -> sparse.csr_matrix:
        """Link incidence of each OD shortest path: (n*n) x n_links, row = o*n + d."""
        n = self.n
        if getattr(self, "_road_link_ij", None) is None:    # dense (from, to) -> link index
            lk = np.full((n, n), -1, dtype=np.int64)
            for (i, j), k in self._road_link.items():
                lk[i, j] = k
            self._road_link_ij = lk
        pred = np.asarray(pred)
        o, d = np.divmod(np.arange(n * n), n)
        live = (o != d) & (pred[o, d] >= 0)
        o, d = o[live], d[live]
        pair = o * n + d
        j = d.copy()
        rows, cols, depth = [], [], []
        k = 0
        while o.size:                     # walk all paths back from their destination, one hop at a time
            i = pred[o, j]
            rows.append(pair)
            cols.append(self._road_link_ij[i, j])
            depth.append(np.full(o.size, k))
            j = i
            more = j != o
            o, j, pair = o[more], j[more], pair[more]
            k += 1
        rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        cols = np.concatenate(cols) if cols else np.zeros(0, np.int64)
        if rows.size:                     # same entry order as a path-by-path walk
            order = np.lexsort((np.concatenate(depth), rows))
            rows, cols = rows[order], cols[order]
        return sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n * n, self.n_links))

    # ------------------------------------------------------------ active modes
    def active_skim(self, walk_speed_kmh: float | None = None,
                    bike_speed_kmh: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(walk_min, bike_min, dist_km): shortest road distance (diagonal intra_km) at walk/bike speed."""
        w = self.walk_speed_kmh if walk_speed_kmh is None else float(walk_speed_kmh)
        b = self.bike_speed_kmh if bike_speed_kmh is None else float(bike_speed_kmh)
        if not (w > 0 and b > 0):
            raise ParameterError("active_skim: walk_speed_kmh and bike_speed_kmh must be > 0")
        g = sparse.csr_matrix((self.road_length_km, (self.road_from, self.road_to)), shape=(self.n, self.n))
        dist = dijkstra(g, directed=True)
        np.fill_diagonal(dist, self.intra_km)
        return dist / w * 60.0, dist / b * 60.0, dist

    # ------------------------------------------------------------ transit
    def active_lines(self, year: int | None = None) -> np.ndarray:
        """Lines in service in ``year`` (default: the base year)."""
        return self.line_opened <= (self.year if year is None else int(year))

    def transit_skim(self, headway_min: Any = None, headway_scale: Any = 1.0, ivt_min: Sequence[Any] | None = None,
                     ivt_scale: Any = 1.0, fare_eur: Any = None, fare_mode: str = "per_line",
                     single_fare: float | None = None, transfer_penalty_min: float | None = None,
                     access_min: Any = None, line_active: Any = None, year: int | None = None,
                     local_headway_scale: Any = 1.0) -> dict[str, Any]:
        """Transit skim on an expanded graph (pole nodes + one node per (line, stop)).

        Edges: pole -> (line, stop) boarding = headway/2 + transfer penalty;
        (line, k) <-> (line, k+1) riding = ivt; (line, stop) -> pole alighting = 0.
        One transfer penalty is taken off per trip, so a trip pays the wait
        of every boarding plus the penalty for every transfer. Access and
        egress = ``access_min`` (default ``transit_access_min``) at both ends.

        Levers (scalar or one value per line, in file order): ``headway_min``
        (replaces), ``headway_scale``, ``ivt_min`` (list of per-line arrays),
        ``ivt_scale``, ``fare_eur``, ``line_active`` (bool mask; default: lines
        opened by ``year`` or the base year). ``fare_mode``: "per_line" (sum of
        the fares of the lines boarded) or "single_ticket" (``single_fare``,
        default ``urban_fare_eur``, once per trip).

        Diagonal (intra-zone trips): local network of the pole's kind:
        access + local headway/2 + intra_km at the local commercial speed,
        urban fare. Poles pairs without a transit path get inf.

        Returns a dict of n x n arrays ``total_min, ivt_min, wait_min,
        access_min, transfers, fare_eur`` (inf where unavailable),
        ``available`` (bool), ``line_use`` (sparse (n*n) x n_lines, 1 when the
        OD path rides the line, row o*n + d) and ``active`` (bool per line).
        """
        n, nl = self.n, self.n_lines
        if fare_mode not in ("per_line", "single_ticket"):
            raise ParameterError(f"transit_skim: fare_mode {fare_mode!r}; allowed: per_line, single_ticket")
        hw = self.line_headway_min if headway_min is None else self._per_link(headway_min, "transit_skim: headway_min", nl)
        hw = hw * self._per_link(headway_scale, "transit_skim: headway_scale", nl)
        iscale = self._per_link(ivt_scale, "transit_skim: ivt_scale", nl)
        fares = self.line_fare_eur if fare_eur is None else self._per_link(fare_eur, "transit_skim: fare_eur", nl,
                                                                           allow_zero=True)
        pen = self.transfer_penalty_min if transfer_penalty_min is None else float(transfer_penalty_min)
        if not (np.isfinite(pen) and pen >= 0):
            raise ParameterError("transit_skim: transfer_penalty_min must be finite and >= 0")
        acc = self.transit_access_min if access_min is None else self._per_link(access_min, "transit_skim: access_min",
                                                                                n, allow_zero=True)
        active = self.active_lines(year) if line_active is None else np.asarray(line_active, dtype=bool)
        if active.shape != (nl,):
            raise ParameterError(f"transit_skim: line_active must have {nl} values")
        if ivt_min is not None and len(ivt_min) != nl:
            raise ParameterError(f"transit_skim: ivt_min must hold one array per line ({nl})")
        sfare = self.urban_fare_eur if single_fare is None else float(single_fare)

        # expanded graph
        src, dst, cost, e_wait, e_ivt, e_line, e_board = [], [], [], [], [], [], []

        def edge(a: int, b: int, c: float, wait: float = 0.0, ivt: float = 0.0, line: int = -1,
                 board: bool = False) -> None:
            src.append(a); dst.append(b); cost.append(max(c, _EPS))
            e_wait.append(wait); e_ivt.append(ivt); e_line.append(line); e_board.append(board)

        node = n
        for li, line in enumerate(self.lines):
            if not active[li]:
                continue
            ivt = np.asarray(line.ivt_min if ivt_min is None else ivt_min[li], dtype=float) * iscale[li]
            if ivt.shape != line.ivt_min.shape or not np.all(np.isfinite(ivt)) or np.any(ivt <= 0):
                raise ParameterError(f"transit_skim: ivt_min of line '{line.id}' must be "
                                     f"{line.ivt_min.size} finite values > 0")
            base = node
            for k, p in enumerate(line.stops):
                edge(int(p), base + k, hw[li] / 2 + pen, wait=hw[li] / 2, line=li, board=True)
                edge(base + k, int(p), 0.0)
            for k in range(line.stops.size - 1):
                edge(base + k, base + k + 1, ivt[k], ivt=ivt[k], line=li)
                edge(base + k + 1, base + k, ivt[k], ivt=ivt[k], line=li)
            node += line.stops.size
        n_nodes = node
        g = sparse.csr_matrix((cost, (src, dst)), shape=(n_nodes, n_nodes))
        _, pred = dijkstra(g, directed=True, indices=np.arange(n), return_predecessors=True)

        inf = np.full((n, n), np.inf)
        total, t_ivt, t_wait, t_acc, n_tr, fare = (inf.copy() for _ in range(6))
        e_wait_a, e_ivt_a, e_line_a, e_board_a = map(np.asarray, (e_wait, e_ivt, e_line, e_board))
        # edge index by (from, to): sorted keys, looked up with searchsorted (last edge wins, as a dict would)
        ekey = np.asarray(src, dtype=np.int64) * n_nodes + np.asarray(dst, dtype=np.int64)
        eord = np.argsort(ekey, kind="stable")
        ekey_s = ekey[eord]
        last = np.r_[ekey_s[1:] != ekey_s[:-1], True]
        ekey_u, eid_u = ekey_s[last], eord[last]
        # walk every OD path back from its destination, one hop at a time, all pairs at once
        o, d = np.divmod(np.arange(n * n), n)
        ok = (o != d) & (pred[o, d] >= 0)
        o, d = o[ok], d[ok]
        pair_all = o * n + d
        pair, j = pair_all.copy(), d.copy()
        hop_pair, hop_edge = [], []
        while o.size:
            i = pred[o, j]
            hop_pair.append(pair)
            hop_edge.append(eid_u[np.searchsorted(ekey_u, i.astype(np.int64) * n_nodes + j)])
            j = i
            more = j != o
            o, j, pair = o[more], j[more], pair[more]
        hp = np.concatenate(hop_pair) if hop_pair else np.zeros(0, np.int64)
        he = np.concatenate(hop_edge) if hop_edge else np.zeros(0, np.int64)
        nn = n * n
        if pair_all.size:
            po, pd_ = np.divmod(pair_all, n)
            t_wait[po, pd_] = np.bincount(hp, weights=e_wait_a[he], minlength=nn)[pair_all]
            t_ivt[po, pd_] = np.bincount(hp, weights=e_ivt_a[he], minlength=nn)[pair_all]
            t_acc[po, pd_] = acc[po] + acc[pd_]
            brd = e_board_a[he]
            n_tr[po, pd_] = np.bincount(hp[brd], minlength=nn)[pair_all] - 1
            fare[po, pd_] = (np.bincount(hp[brd], weights=fares[e_line_a[he[brd]]], minlength=nn)[pair_all]
                             if fare_mode == "per_line" else sfare)
            total[po, pd_] = t_acc[po, pd_] + t_wait[po, pd_] + t_ivt[po, pd_] + pen * n_tr[po, pd_]
        on_line = e_line_a[he] >= 0 if he.size else np.zeros(0, bool)
        used = np.unique(hp[on_line] * nl + e_line_a[he[on_line]])     # (pair, line) ridden
        rows, cols = used // nl, used % nl
        # intra-zone trips on the local network
        lhw = self.local_headway_min * self._per_link(local_headway_scale, "transit_skim: local_headway_scale", n)
        idx = np.arange(n)
        t_wait[idx, idx] = lhw / 2
        t_ivt[idx, idx] = self.intra_km / self.local_speed_kmh * 60.0
        t_acc[idx, idx] = acc
        n_tr[idx, idx] = 0
        fare[idx, idx] = self.urban_fare_eur if fare_mode == "per_line" else sfare
        total[idx, idx] = t_acc[idx, idx] + t_wait[idx, idx] + t_ivt[idx, idx]
        line_use = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n * n, nl))
        return dict(total_min=total, ivt_min=t_ivt, wait_min=t_wait, access_min=t_acc, transfers=n_tr,
                    fare_eur=fare, available=np.isfinite(total), line_use=line_use, active=active)


# ---------------------------------------------------------------- loading


def default_folder() -> Path:
    return data_root() / "scenarios" / "territory"


def load_territory(folder: Path | str | None = None) -> Territory:
    """Read and validate ``poles.toml`` and ``links.toml`` from ``folder``."""
    folder = default_folder() if folder is None else Path(folder)
    ppath, lpath = folder / "poles.toml", folder / "links.toml"

    # ---- poles
    pdata = read_toml(ppath)
    _check_top(pdata, ("meta", "sources", "pole"), ppath)
    if not isinstance(pdata["meta"], dict):
        raise ParameterError(f"{ppath}: [meta] must be a table")
    meta = parse_params(pdata["meta"], POLE_META, f"{ppath}: [meta]")
    pole_keys = [(f.alias or k) for k, f in PoleSpec.model_fields.items()]
    psources = _check_sources(pdata["sources"], pole_keys, ppath)
    if not isinstance(pdata["pole"], list) or not pdata["pole"]:
        raise ParameterError(f"{ppath}: 'pole' must be a non-empty array of [[pole]] tables")
    poles: list[PoleSpec] = []
    for k, raw in enumerate(pdata["pole"]):
        label = f"pole '{raw.get('id')}'" if isinstance(raw, dict) and raw.get("id") else f"pole #{k + 1}"
        poles.append(_validate(PoleSpec, raw, ppath, label))
    ids = [p.id for p in poles]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ParameterError(f"{ppath}: duplicate pole id(s) {dup}; allowed: unique ids")
    index = {i: k for k, i in enumerate(ids)}
    n = len(ids)
    jobs = np.array([[p.jobs[s] for s in SECTORS] for p in poles], dtype=float)
    dwell = np.array([[p.dwellings[t] for t in TENURES] for p in poles], dtype=float)
    pop = np.array([p.population for p in poles], dtype=float)
    for key, tot, target in (("population", pop.sum(), meta["population_total"]),
                             ("jobs", jobs.sum(), meta["jobs_total"])):
        if abs(tot - target) > POP_JOBS_TOLERANCE * target:
            raise ParameterError(
                f"{ppath}: key '{key}': pole sum {tot:,.0f} differs from [meta] {key}_total {target:,.0f} "
                f"by {100 * (tot / target - 1):+.2f} %; allowed: within ±{100 * POP_JOBS_TOLERANCE:g} %")

    # ---- links
    ldata = read_toml(lpath)
    _check_top(ldata, ("meta", "sources", "road", "transit"), lpath)
    if not isinstance(ldata["meta"], dict):
        raise ParameterError(f"{lpath}: [meta] must be a table")
    lmeta = parse_params(ldata["meta"], LINK_META, f"{lpath}: [meta]")
    for key in ("local_headway_min", "local_speed_kmh"):
        missing = sorted(set(KINDS) - set(lmeta[key]))
        if missing:
            raise ParameterError(f"{lpath}: [meta]: key '{key}': missing kind(s) {missing}; allowed: one value "
                                 f"per kind {list(KINDS)}")
    link_keys = sorted({(f.alias or k) for m in (RoadSpec, TransitSpec) for k, f in m.model_fields.items()})
    lsources = _check_sources(ldata["sources"], link_keys, lpath)
    for key in ("road", "transit"):
        if not isinstance(ldata[key], list) or not ldata[key]:
            raise ParameterError(f"{lpath}: '{key}' must be a non-empty array of [[{key}]] tables")
    roads: list[RoadSpec] = []
    seen: dict[frozenset, int] = {}
    for k, raw in enumerate(ldata["road"]):
        label = (f"road #{k + 1} ({raw.get('from')}-{raw.get('to')})" if isinstance(raw, dict)
                 else f"road #{k + 1}")
        r = _validate(RoadSpec, raw, lpath, label)
        for end in (r.from_, r.to):
            if end not in index:
                raise ParameterError(f"{lpath}: {label}: pole '{end}' does not exist; allowed: a pole id of "
                                     f"{ppath.name} ({', '.join(ids)})")
        if r.from_ == r.to:
            raise ParameterError(f"{lpath}: {label}: 'from' and 'to' are the same pole; allowed: two different poles")
        pair = frozenset((r.from_, r.to))
        if pair in seen:
            raise ParameterError(f"{lpath}: {label}: duplicates road #{seen[pair] + 1}; allowed: one road link "
                                 f"per pole pair (merge parallel roads into one link)")
        seen[pair] = k
        roads.append(r)
    lines: list[TransitSpec] = []
    for k, raw in enumerate(ldata["transit"]):
        label = f"transit line '{raw.get('id')}'" if isinstance(raw, dict) and raw.get("id") else f"transit #{k + 1}"
        t = _validate(TransitSpec, raw, lpath, label)
        bad = [s for s in t.stops if s not in index]
        if bad:
            raise ParameterError(f"{lpath}: {label}: key 'stops': pole(s) {bad} do not exist; allowed: pole ids "
                                 f"of {ppath.name} ({', '.join(ids)})")
        lines.append(t)
    lids = [t.id for t in lines]
    dup = sorted({i for i in lids if lids.count(i) > 1})
    if dup:
        raise ParameterError(f"{lpath}: duplicate transit line id(s) {dup}; allowed: unique ids")

    # ---- road connectivity
    a = np.array([index[r.from_] for r in roads])
    b = np.array([index[r.to] for r in roads])
    adj = sparse.csr_matrix((np.ones(a.size), (a, b)), shape=(n, n))
    ncomp, lab = connected_components(adj, directed=False)
    if ncomp > 1:
        main = np.bincount(lab).argmax()
        cut = [ids[k] for k in range(n) if lab[k] != main]
        raise ParameterError(f"{lpath}: road graph is not connected: pole(s) {cut} cannot be reached from "
                             f"'{ids[int(np.flatnonzero(lab == main)[0])]}'; allowed: every pole of {ppath.name} "
                             f"linked to the others by [[road]] links")

    # ---- arrays
    road_from = np.empty(2 * len(roads), dtype=np.int64)
    road_to = np.empty_like(road_from)
    road_from[0::2], road_to[0::2] = a, b
    road_from[1::2], road_to[1::2] = b, a
    rep = lambda xs: np.repeat(np.asarray(xs, dtype=float), 2)  # noqa: E731
    tl = [TransitLine(id=t.id, name=t.name, mode=t.mode, stops=np.array([index[s] for s in t.stops]),
                      ivt_min=np.asarray(t.ivt_min, dtype=float), headway_min=t.headway_min,
                      capacity_pax_h=t.capacity_pax_h, fare_eur=t.fare_eur, opened=t.opened, notes=t.notes or "")
          for t in lines]
    kinds = [p.kind for p in poles]
    arr = lambda key: np.array([getattr(p, key) for p in poles], dtype=float)  # noqa: E731

    g = nx.MultiGraph()
    for p in poles:
        g.add_node(p.id, name=p.name, lat=p.lat, lon=p.lon, kind=p.kind, population=p.population)
    for k, r in enumerate(roads):
        g.add_edge(r.from_, r.to, key=f"road:{k}", mode="road", road=r.road, type=r.type,
                   length_km=r.length_km, fftime_min=r.fftime_min, capacity_veh_h=r.capacity_veh_h)
    for t in lines:
        for k in range(len(t.stops) - 1):
            g.add_edge(t.stops[k], t.stops[k + 1], key=f"{t.id}:{k}", mode=t.mode, line=t.id,
                       ivt_min=t.ivt_min[k], headway_min=t.headway_min, opened=t.opened)

    return Territory(
        ids=ids, names=[p.name for p in poles], territory=[p.territory for p in poles], kind=kinds,
        lat=arr("lat"), lon=arr("lon"), population=pop, intra_km=arr("intra_km"),
        transit_access_min=arr("transit_access_min"), vacancy_rate=arr("vacancy_rate"),
        small_share=arr("small_share"), degraded_share=arr("degraded_share"),
        energy_sink_share=arr("energy_sink_share"), price_eur_m2=arr("price_eur_m2"),
        rent_eur_m2=arr("rent_eur_m2"), income_index=arr("income_index"),
        land_ha_available=arr("land_ha_available"), jobs=jobs, dwellings=dwell, index=index,
        road_from=road_from, road_to=road_to, road_length_km=rep([r.length_km for r in roads]),
        road_fftime_min=rep([r.fftime_min for r in roads]), road_capacity_veh_h=rep([r.capacity_veh_h for r in roads]),
        road_name=[r.road for r in roads for _ in (0, 1)], road_type=[r.type for r in roads for _ in (0, 1)],
        lines=tl, line_ids=lids, line_mode=[t.mode for t in lines],
        line_headway_min=np.array([t.headway_min for t in lines], dtype=float),
        line_capacity_pax_h=np.array([t.capacity_pax_h for t in lines], dtype=float),
        line_fare_eur=np.array([t.fare_eur for t in lines], dtype=float),
        line_opened=np.array([t.opened for t in lines], dtype=np.int64),
        year=int(meta["year"]), population_total=meta["population_total"], jobs_total=meta["jobs_total"],
        terminal_min=lmeta["terminal_min"], walk_speed_kmh=lmeta["walk_speed_kmh"],
        bike_speed_kmh=lmeta["bike_speed_kmh"], transfer_penalty_min=lmeta["transfer_penalty_min"],
        intra_speed_kmh=lmeta["intra_speed_kmh"], urban_fare_eur=lmeta["urban_fare_eur"],
        local_headway_min=np.array([lmeta["local_headway_min"][k] for k in kinds], dtype=float),
        local_speed_kmh=np.array([lmeta["local_speed_kmh"][k] for k in kinds], dtype=float),
        graph=g, notes=[p.notes or "" for p in poles],
        sources={"poles": psources, "links": lsources}, folder=folder,
    )
