"""The twelve engagements of the booklet as timed, parameterised levers.

The catalogue `scenarios/engagements.toml` defines each engagement (its
"Vivre", booklet lines, default timeline) and its levers. A lever moves one
model parameter (``process.key``, or one entry ``process.key.entry`` of a
table parameter) from its baseline value towards a target:

* ``mode = "set"``: target = ``value``;
* ``mode = "scale"``: target = baseline x ``value``;
* ``mode = "add"``: target = baseline + ``value``.

Each year the effective value is ``baseline + (target - baseline) x
intensity x ramp(year)``, where ``ramp`` goes linearly from 0 before
``start_year`` to 1 after ``start_year + ramp_years``. Several engagements
acting on one parameter compose in catalogue order (each applies to the
value left by the previous one). Processes read ``model.params`` every
year, so a lever is nothing but a time-varying parameter: the mechanism
needs no special case per engagement.

A scenario switches an engagement on with a table::

    [engagements.e2_alternatives]
    start_year = 2018        # optional, default from the catalogue
    ramp_years = 13          # optional
    intensity = 1.0          # optional, 0..2
    [engagements.e2_alternatives.levers]   # optional: change a lever's value
    "mobility.transit_headway_scale" = 0.5
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .params import ParameterError, data_root, read_toml

MODES = ("set", "scale", "add")
TIMELINE_KEYS = {"start_year", "ramp_years", "intensity", "levers"}


@dataclass
class Lever:
    target: str            # "process.key" or "process.key.entry"
    mode: str
    value: Any
    unit: str
    source: str
    note_en: str = ""
    note_fr: str = ""

    @property
    def process(self) -> str:
        return self.target.split(".")[0]

    @property
    def key(self) -> str:
        return self.target.split(".")[1]

    @property
    def entry(self) -> str | None:
        parts = self.target.split(".")
        return parts[2] if len(parts) > 2 else None


@dataclass
class Engagement:
    id: str
    number: int
    vivre: str
    name_fr: str
    name_en: str
    lines: str
    summary_en: str
    summary_fr: str
    start_year: int
    ramp_years: int
    evidence: str
    levers: list[Lever] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)   # metric -> expected direction (+1/-1 as "up"/"down")

    def validate(self, table: Any, where: str) -> dict[str, Any]:
        """Validate a scenario's table for this engagement; return the resolved timeline."""
        if table is True or table == {}:
            table = {}
        if not isinstance(table, dict):
            raise ParameterError(f"{where}: must be a table (start_year, ramp_years, intensity, levers)")
        unknown = sorted(set(table) - TIMELINE_KEYS)
        if unknown:
            raise ParameterError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(TIMELINE_KEYS)}")
        out = {"start_year": self.start_year, "ramp_years": self.ramp_years, "intensity": 1.0, "levers": {}}
        for key, lo, hi in (("start_year", 2017, 2060), ("ramp_years", 0, 40)):
            if key in table:
                v = table[key]
                if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                    raise ParameterError(f"{where}: key '{key}' must be a whole number in [{lo}, {hi}], got {v!r}")
                out[key] = v
        if "intensity" in table:
            v = table["intensity"]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 2:
                raise ParameterError(f"{where}: key 'intensity' must be a number in [0, 2], got {v!r}")
            out["intensity"] = float(v)
        levers = table.get("levers", {})
        if not isinstance(levers, dict):
            raise ParameterError(f"{where}: 'levers' must be a table of \"process.key\" = value")
        known = {lv.target: lv for lv in self.levers}
        for tgt, v in levers.items():
            if tgt not in known:
                raise ParameterError(f"{where}: levers: unknown lever '{tgt}'; allowed: {sorted(known)}")
            _check_lever_value(known[tgt], v, f"{where}: levers: '{tgt}'")
            out["levers"][tgt] = v
        return out


def _check_lever_value(lever: Lever, value: Any, where: str) -> None:
    from .scenario import process_specs
    specs = process_specs()
    if lever.mode == "set" and lever.entry is None:
        spec = specs[lever.process][lever.key]
        spec.check(value, where)
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"{where}: expected a number ({lever.mode} of {lever.target}), got {value!r}")


def catalogue_path():
    return data_root() / "scenarios" / "engagements.toml"


def load_catalogue(path=None) -> dict[str, Engagement]:
    """Read and validate the engagement catalogue (every lever must address a real parameter)."""
    from .scenario import process_specs
    path = path or catalogue_path()
    data = read_toml(path)
    where = str(path)
    engs = data.get("engagement")
    if not isinstance(engs, list) or not engs:
        raise ParameterError(f"{where}: expected [[engagement]] tables")
    specs = process_specs()
    out: dict[str, Engagement] = {}
    allowed = {"id", "number", "vivre", "name_fr", "name_en", "lines", "summary_en", "summary_fr",
               "start_year", "ramp_years", "evidence", "lever", "outcomes"}
    for i, e in enumerate(engs):
        loc = f"{where}: engagement #{i + 1} ({e.get('id', '?')})"
        unknown = sorted(set(e) - allowed)
        if unknown:
            raise ParameterError(f"{loc}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
        missing = sorted(allowed - {"outcomes"} - set(e))
        if missing:
            raise ParameterError(f"{loc}: missing key(s) {missing}")
        levers = []
        for j, lv in enumerate(e["lever"]):
            lloc = f"{loc}: lever #{j + 1}"
            lallowed = {"target", "mode", "value", "unit", "source", "note_en", "note_fr"}
            unknown = sorted(set(lv) - lallowed)
            if unknown:
                raise ParameterError(f"{lloc}: unknown key(s) {unknown}; allowed: {sorted(lallowed)}")
            for k in ("target", "mode", "value", "unit", "source"):
                if k not in lv:
                    raise ParameterError(f"{lloc}: missing key '{k}'")
            if lv["mode"] not in MODES:
                raise ParameterError(f"{lloc}: mode {lv['mode']!r} not allowed; allowed: {MODES}")
            parts = str(lv["target"]).split(".")
            if len(parts) not in (2, 3) or parts[0] not in specs or parts[1] not in specs[parts[0]]:
                raise ParameterError(f"{lloc}: target {lv['target']!r} is not a model parameter "
                                     f"(process.key[.entry]); processes: {sorted(specs)}")
            sp = specs[parts[0]][parts[1]]
            if len(parts) == 3 and sp.kind != "table":
                raise ParameterError(f"{lloc}: target {lv['target']!r}: '{parts[1]}' is not a table parameter")
            if len(parts) == 3 and sp.choices and parts[2] not in sp.choices:
                raise ParameterError(f"{lloc}: target {lv['target']!r}: entry not in {sp.choices}")
            lever = Lever(target=lv["target"], mode=lv["mode"], value=lv["value"], unit=lv["unit"],
                          source=lv["source"], note_en=lv.get("note_en", ""), note_fr=lv.get("note_fr", ""))
            if lever.mode == "set" and len(parts) == 2 and lv["unit"] != sp.unit:
                raise ParameterError(f"{lloc}: unit {lv['unit']!r} does not match {lever.target} ({sp.unit!r})")
            _check_lever_value(lever, lever.value, lloc)
            levers.append(lever)
        eng = Engagement(id=e["id"], number=int(e["number"]), vivre=e["vivre"], name_fr=e["name_fr"],
                         name_en=e["name_en"], lines=e["lines"], summary_en=e["summary_en"],
                         summary_fr=e["summary_fr"], start_year=int(e["start_year"]),
                         ramp_years=int(e["ramp_years"]), evidence=e["evidence"], levers=levers,
                         outcomes=dict(e.get("outcomes", {})))
        out[eng.id] = eng
    return out


_CATALOGUE: dict[str, Engagement] | None = None


def catalogue() -> dict[str, Engagement]:
    global _CATALOGUE
    if _CATALOGUE is None:
        _CATALOGUE = load_catalogue()
    return _CATALOGUE


class _Lazy(Mapping):
    """ENGAGEMENTS: a read-only view of the catalogue, loaded on first use."""

    def __getitem__(self, k: str) -> Engagement:
        return catalogue()[k]

    def __iter__(self):
        return iter(catalogue())

    def __len__(self) -> int:
        return len(catalogue())


ENGAGEMENTS: Mapping[str, Engagement] = _Lazy()


def ramp(year: int, start_year: int, ramp_years: int) -> float:
    if year < start_year:
        return 0.0
    if ramp_years <= 0:
        return 1.0
    return min(1.0, (year - start_year + 1) / ramp_years)


def _target(base: float, lever: Lever, value: Any) -> float:
    if lever.mode == "set":
        return value
    if lever.mode == "scale":
        return base * value
    return base + value


def apply(model) -> None:
    """Set this year's parameter values from the baseline values and the active engagements."""
    if not model.scenario.engagements:
        return
    if not hasattr(model, "_base_params"):
        model._base_params = copy.deepcopy(model.params)
    params = copy.deepcopy(model._base_params)
    active: dict[str, float] = {}
    for eid, eng in catalogue().items():
        if eid not in model.scenario.engagements:
            continue
        tl = model.scenario.engagements[eid]
        r = ramp(model.year, tl["start_year"], tl["ramp_years"]) * tl["intensity"]
        active[eid] = r
        if r == 0.0:
            continue
        for lever in eng.levers:
            value = tl["levers"].get(lever.target, lever.value)
            table = params[lever.process]
            if lever.entry is None:
                base = table[lever.key]
                if isinstance(base, str) or isinstance(value, str) or isinstance(base, bool):
                    if r >= 0.5:  # categorical lever: switches half-way through the ramp
                        table[lever.key] = value
                    continue
                tgt = _target(base, lever, value)
                if isinstance(base, list):  # list parameter: every element moves by the same rule
                    table[lever.key] = [b + (_target(b, lever, value) - b) * r for b in base]
                    continue
                eff = base + (tgt - base) * r
                table[lever.key] = int(round(eff)) if isinstance(base, int) else float(eff)
            else:
                tab = dict(table[lever.key])
                base = tab.get(lever.entry, 0.0)
                tgt = _target(base, lever, value)
                tab[lever.entry] = base + (tgt - base) * r
                table[lever.key] = tab
    model.params = params
    model.engagements_active = active
