"""The eight personas of the booklet as validated data.

Each persona lives in ``personas/<id>.toml`` (see ``docs/personas.md``) with
four parts:

* header: ``id, name, order, title_en, title_fr, quote_fr, quote_lines,
  household_with``;
* ``[card]``: what the booklet says, each entry ``{value, lines}`` where
  ``lines`` points into the seed booklet (``"L696-699"``) or is ``"-"`` when
  the value is ``"not stated"``;
* ``[agent]``: the named person's row in the model, in the codes of
  :mod:`simulator.state`, each entry ``{value, source}``;
* ``[segment]``: the population segment the persona stands for, each numeric
  entry ``{value, unit, source}`` (checked with :func:`simulator.params.parse_params`).

:func:`load_personas` reads the folder, checks everything (codes, ranges,
distributions summing to 1, segment shares summing to 1, households agreeing)
and raises :class:`simulator.params.ParameterError` with one message naming
the file and the key on the first problem.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulator import state
from simulator.params import ParameterError, Spec, check_source, data_root, parse_params, read_toml, spec

# Booklet order (L693-796): Sophie, Nicolas, Laurence, Carlos, Jean-Stéphane,
# Sarah, Huguette, Malika.
PERSONA_IDS: tuple[str, ...] = (
    "sophie", "nicolas", "laurence", "carlos", "jean_stephane", "sarah", "huguette", "malika",
)

# Kinds of pole used by segment ``pole_affinity``; the territory assigns one
# kind to each zone.
POLE_KINDS: tuple[str, ...] = ("metro_core", "urban", "suburban", "periurban", "industrial_port")

POLE_ID_RE = re.compile(r"^Z(0[1-9]|1[0-9]|2[0-3])$")
LINES_RE = re.compile(r"^L\d+(-\d+)?(, ?L\d+(-\d+)?)*$")

SUM_TOL = 1e-6

# Agent fields shared by every member of one household.
HOUSEHOLD_FIELDS = ("home_pole", "cars", "tenure", "condition", "hh_type")

_AGENT_SPECS: dict[str, Spec] = {
    "home_pole": spec("", kind="str", doc="zone id Z01..Z23"),
    "sex": spec("", kind="str", choices=state.SEX),
    "age": spec("yr", ge=0, le=110, kind="int"),
    "edu": spec("", kind="str", choices=state.EDU),
    "status": spec("", kind="str", choices=state.STATUS),
    "sector": spec("", kind="str", choices=state.SECTORS + ("none",)),
    "licence": spec("", kind="bool"),
    "cars": spec("cars", ge=0, le=2, kind="int"),
    "income_eur_month": spec("EUR/month", ge=0, le=50000),
    "tenure": spec("", kind="str", choices=state.TENURE),
    "condition": spec("", kind="str", choices=state.CONDITION),
    "hh_type": spec("", kind="str", choices=state.HH_TYPE),
    "other_members": spec("", kind="members"),
}

_DIST_KEYS = ("hh_type", "edu", "cars", "tenure", "condition", "sectors")

_SEGMENT_SPECS: dict[str, Spec] = {
    "share_households": spec("1", ge=0, le=1),
    "hh_type": spec("1", ge=0, le=1, kind="table", choices=state.HH_TYPE),
    "head_age": spec("yr", ge=15, le=110, kind="list", length=2),
    "children_mean": spec("children/household", ge=0, le=6),
    "adult_child_share": spec("1", ge=0, le=1),
    "edu": spec("1", ge=0, le=1, kind="table", choices=state.EDU),
    "employment": spec("1", ge=0, le=1),
    "licence": spec("1", ge=0, le=1),
    "cars": spec("1", ge=0, le=1, kind="table", choices=("0", "1", "2")),
    "income_median": spec("EUR/month", ge=0, le=20000),
    "income_sigma": spec("1", ge=0, le=2),
    "tenure": spec("1", ge=0, le=1, kind="table", choices=state.TENURE),
    "condition": spec("1", ge=0, le=1, kind="table", choices=state.CONDITION),
    "pole_affinity": spec("1", ge=0, le=10, kind="table", choices=POLE_KINDS),
    "sectors": spec("1", ge=0, le=1, kind="table", choices=state.SECTORS),
}
_SEGMENT_TEXT = ("label_en", "label_fr", "description_en")

_MEMBER_KEYS = {"age", "sex", "status"}
_MEMBER_OPTIONAL = {"relation"}


# ------------------------------------------------------------------ raw file schema
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _CardEntry(_Strict):
    value: str | int | float | bool
    lines: str


class _AgentEntry(_Strict):
    value: Any
    source: str


class _RawPersona(_Strict):
    id: str
    name: str
    order: int
    title_en: str
    title_fr: str
    quote_fr: str
    quote_lines: str
    household_with: list[str] = Field(default_factory=list)
    card: dict[str, _CardEntry]
    agent: dict[str, Any]
    segment: dict[str, Any]


def _pydantic_message(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e["loc"])
        if e["type"] == "extra_forbidden":
            parts.append(f"unknown key '{loc}'")
        elif e["type"] == "missing":
            parts.append(f"missing key '{loc}'")
        else:
            parts.append(f"key '{loc}': {e['msg']}")
    return "; ".join(parts[:3])


_HEADER_ALLOWED = ("id, name, order, title_en, title_fr, quote_fr, quote_lines, household_with, "
                   "[card], [agent], [segment]")


# ------------------------------------------------------------------ public model
class Persona(BaseModel):
    """One persona, validated; plain values ready for population synthesis."""

    model_config = ConfigDict(frozen=False)

    id: str
    name: str
    order: int
    title_en: str
    title_fr: str
    quote_fr: str
    quote_lines: str
    household_with: list[str]
    card: dict[str, dict[str, Any]]          # key -> {"value", "lines"}
    agent: dict[str, Any]                    # key -> plain value (codes as names)
    segment: dict[str, Any]                  # key -> plain value; distributions complete
    sources: dict[str, str]                  # "agent.<key>" / "segment.<key>" -> source
    units: dict[str, str]                    # "segment.<key>" -> unit
    path: str

    def title(self, lang: str = "en") -> str:
        return self.title_fr if lang == "fr" else self.title_en

    @property
    def segment_label(self) -> str:
        return self.segment["label_en"]

    def label(self, lang: str = "en") -> str:
        return self.segment["label_fr"] if lang == "fr" else self.segment["label_en"]


def _check_distribution(values: dict[str, float], codes: Iterable[str], where: str) -> dict[str, float]:
    total = sum(values.values())
    if abs(total - 1.0) > SUM_TOL:
        raise ParameterError(
            f"{where}: shares sum to {total:.6g}; allowed: non-negative shares over "
            f"{', '.join(codes)} summing to 1 (within {SUM_TOL:g})")
    return {c: float(values.get(c, 0.0)) for c in codes}


def _check_members(value: Any, where: str) -> list[dict[str, Any]]:
    allowed = "a list of tables {age = int, sex = one of " + ", ".join(state.SEX) + \
              ", status = one of " + ", ".join(state.STATUS) + ", relation = optional text}"
    if not isinstance(value, list):
        raise ParameterError(f"{where}: expected a list; allowed: {allowed}")
    out = []
    for i, m in enumerate(value):
        loc = f"{where}[{i}]"
        if not isinstance(m, dict):
            raise ParameterError(f"{loc}: expected a table; allowed: {allowed}")
        keys = set(m)
        if not _MEMBER_KEYS <= keys or keys - _MEMBER_KEYS - _MEMBER_OPTIONAL:
            raise ParameterError(f"{loc}: keys {sorted(keys)}; allowed: {allowed}")
        age = m["age"]
        if isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= 110:
            raise ParameterError(f"{loc}: age {age!r}; allowed: a whole number in [0, 110]")
        if m["sex"] not in state.SEX:
            raise ParameterError(f"{loc}: sex {m['sex']!r} is not allowed; allowed: {allowed}")
        if m["status"] not in state.STATUS:
            raise ParameterError(f"{loc}: status {m['status']!r} is not allowed; allowed: {allowed}")
        if "relation" in m and not isinstance(m["relation"], str):
            raise ParameterError(f"{loc}: relation must be text; allowed: {allowed}")
        out.append(dict(m))
    return out


def _parse_agent(data: Mapping[str, Any], where: str, pole_ids: set[str] | None) -> tuple[dict, dict]:
    unknown = sorted(set(data) - set(_AGENT_SPECS))
    if unknown:
        raise ParameterError(f"{where}: unknown key(s) {unknown}; allowed keys: {sorted(_AGENT_SPECS)}")
    missing = sorted(set(_AGENT_SPECS) - set(data))
    if missing:
        raise ParameterError(f"{where}: missing key(s) {missing}")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, sp in _AGENT_SPECS.items():
        loc = f"{where}: key '{key}'"
        raw = data[key]
        if not isinstance(raw, dict):
            raise ParameterError(f"{loc}: expected a table {{value, source}}")
        missing_f = sorted({"value", "source"} - set(raw))
        extra_f = sorted(set(raw) - {"value", "source"})
        if missing_f or extra_f:
            what = "; ".join(x for x in (f"missing {missing_f}" if missing_f else "",
                                         f"unknown {extra_f}" if extra_f else "") if x)
            raise ParameterError(f"{loc}: {what}; allowed: exactly 'value' and 'source' (a booklet line "
                                 f"'L…', a public source, or 'assumption: why')")
        try:
            entry = _AgentEntry.model_validate(raw)
        except ValidationError as exc:
            raise ParameterError(f"{loc}: {_pydantic_message(exc)}; allowed: 'source' is a text") from None
        check_source(entry.source, loc)
        if sp.kind == "members":
            val = _check_members(entry.value, loc)
        else:
            try:
                val = sp.check(entry.value, loc)
            except ParameterError as exc:
                raise ParameterError(str(exc).replace("unit '', ", "").replace("a str, ", "")) from None
        if key == "home_pole":
            if not POLE_ID_RE.match(val):
                raise ParameterError(f"{loc}: {val!r} is not a zone id; allowed: Z01..Z23 (DATA.md §1.4)")
            if pole_ids is not None and val not in pole_ids:
                raise ParameterError(f"{loc}: {val!r} is not a pole of the territory; allowed: "
                                     f"{', '.join(sorted(pole_ids))}")
        values[key] = val
        sources[key] = entry.source
    loc = f"{where}: key"
    if values["hh_type"] == "single" and values["other_members"]:
        raise ParameterError(f"{loc} 'other_members': a 'single' household has no other members; "
                             f"allowed: an empty list, or change hh_type")
    if values["status"] == "employed" and values["sector"] == "none":
        raise ParameterError(f"{loc} 'sector': an employed person needs a sector; allowed: "
                             f"{', '.join(state.SECTORS)}")
    if values["status"] in ("retired", "child") and values["sector"] != "none":
        raise ParameterError(f"{loc} 'sector': a {values['status']} has no sector; allowed: 'none'")
    return values, sources


def _parse_segment(data: Mapping[str, Any], where: str) -> tuple[dict, dict, dict]:
    texts: dict[str, str] = {}
    for key in _SEGMENT_TEXT:
        if key not in data:
            raise ParameterError(f"{where}: missing key '{key}'; allowed: a text")
        if not isinstance(data[key], str) or not data[key].strip():
            raise ParameterError(f"{where}: key '{key}': expected a non-empty text")
        texts[key] = data[key]
    numeric = {k: v for k, v in data.items() if k not in _SEGMENT_TEXT}
    values = parse_params(numeric, _SEGMENT_SPECS, where)
    codes = {"hh_type": state.HH_TYPE, "edu": state.EDU, "cars": ("0", "1", "2"),
             "tenure": state.TENURE, "condition": state.CONDITION, "sectors": state.SECTORS}
    for key in _DIST_KEYS:
        values[key] = _check_distribution(values[key], codes[key], f"{where}: key '{key}'")
    missing_kinds = sorted(set(POLE_KINDS) - set(values["pole_affinity"]))
    if missing_kinds:
        raise ParameterError(f"{where}: key 'pole_affinity': missing kind(s) {missing_kinds}; "
                             f"allowed: one weight >= 0 for each of {', '.join(POLE_KINDS)}")
    lo, hi = values["head_age"]
    if lo > hi:
        raise ParameterError(f"{where}: key 'head_age': [{lo:g}, {hi:g}] is not a range; "
                             f"allowed: [min, max] with min <= max, in years")
    values["head_age"] = [int(lo), int(hi)]
    sources = {k: numeric[k]["source"] for k in _SEGMENT_SPECS}
    units = {k: numeric[k]["unit"] for k in _SEGMENT_SPECS}
    return {**texts, **values}, sources, units


def load_persona(path: Path | str, pole_ids: Iterable[str] | None = None) -> Persona:
    """Read and check one persona file (cross-file checks are in :func:`load_personas`)."""
    path = Path(path)
    where = str(path)
    data = read_toml(path)
    try:
        raw = _RawPersona.model_validate(data)
    except ValidationError as exc:
        raise ParameterError(f"{where}: {_pydantic_message(exc)}; allowed: {_HEADER_ALLOWED}") from None
    if raw.id != path.stem:
        raise ParameterError(f"{where}: key 'id': {raw.id!r} differs from the file name; allowed: {path.stem!r}")
    if raw.id not in PERSONA_IDS:
        raise ParameterError(f"{where}: key 'id': {raw.id!r} is not a persona; allowed: {', '.join(PERSONA_IDS)}")
    expected = PERSONA_IDS.index(raw.id) + 1
    if raw.order != expected:
        raise ParameterError(f"{where}: key 'order': {raw.order}; allowed: {expected} (booklet order)")
    if not LINES_RE.match(raw.quote_lines):
        raise ParameterError(f"{where}: key 'quote_lines': {raw.quote_lines!r}; allowed: booklet lines like 'L701-704'")
    card: dict[str, dict[str, Any]] = {}
    for key, entry in raw.card.items():
        ok = LINES_RE.match(entry.lines) or (entry.lines == "-" and entry.value == "not stated")
        if not ok:
            raise ParameterError(f"{where}: key 'card.{key}': lines {entry.lines!r}; allowed: booklet "
                                 f"lines like 'L696' or 'L696-699, L5289', or '-' when value is 'not stated'")
        card[key] = {"value": entry.value, "lines": entry.lines}
    if "age" not in card:
        raise ParameterError(f"{where}: key 'card.age' is missing; allowed: {{value, lines}}")
    pids = set(pole_ids) if pole_ids is not None else None
    agent, a_src = _parse_agent(raw.agent, f"{where}: [agent]", pids)
    segment, s_src, s_units = _parse_segment(raw.segment, f"{where}: [segment]")
    sources = {f"agent.{k}": v for k, v in a_src.items()}
    sources.update({f"segment.{k}": v for k, v in s_src.items()})
    units = {f"segment.{k}": v for k, v in s_units.items()}
    for other in raw.household_with:
        if other not in PERSONA_IDS or other == raw.id:
            raise ParameterError(f"{where}: key 'household_with': {other!r}; allowed: other persona ids "
                                 f"({', '.join(i for i in PERSONA_IDS if i != raw.id)})")
    return Persona(id=raw.id, name=raw.name, order=raw.order, title_en=raw.title_en, title_fr=raw.title_fr,
                   quote_fr=raw.quote_fr, quote_lines=raw.quote_lines, household_with=list(raw.household_with),
                   card=card, agent=agent, segment=segment, sources=sources, units=units, path=where)


def default_folder() -> Path:
    return data_root() / "personas"


def load_personas(folder: Path | str | None = None, pole_ids: Iterable[str] | None = None) -> list[Persona]:
    """Load and check the eight personas, sorted by booklet order.

    ``pole_ids``: if given, every ``agent.home_pole`` must be one of them.
    """
    folder = Path(folder) if folder is not None else default_folder()
    if not folder.is_dir():
        raise ParameterError(f"{folder}: persona folder not found")
    files = {p.stem: p for p in sorted(folder.glob("*.toml"))}
    extra = sorted(set(files) - set(PERSONA_IDS))
    if extra:
        raise ParameterError(f"{folder}: unexpected persona file(s) {[f + '.toml' for f in extra]}; "
                             f"allowed: {', '.join(i + '.toml' for i in PERSONA_IDS)}")
    missing = sorted(set(PERSONA_IDS) - set(files))
    if missing:
        raise ParameterError(f"{folder}: missing persona file(s) {[f + '.toml' for f in missing]}")
    personas = [load_persona(files[i], pole_ids) for i in PERSONA_IDS]
    by_id = {p.id: p for p in personas}
    total = sum(p.segment["share_households"] for p in personas)
    if abs(total - 1.0) > SUM_TOL:
        detail = ", ".join(f"{p.id}.toml {p.segment['share_households']:g}" for p in personas)
        raise ParameterError(f"{folder}: key 'segment.share_households' sums to {total:.6g} over the eight "
                             f"files ({detail}); allowed: shares summing to 1 (within {SUM_TOL:g})")
    for p in personas:
        for other in p.household_with:
            q = by_id[other]
            if p.id not in q.household_with:
                raise ParameterError(f"{q.path}: key 'household_with' must list {p.id!r} "
                                     f"(because {p.id}.toml lists {other!r}); allowed: symmetric households")
            for key in HOUSEHOLD_FIELDS:
                if p.agent[key] != q.agent[key]:
                    raise ParameterError(
                        f"{q.path}: key 'agent.{key}' = {q.agent[key]!r} differs from {p.id}.toml "
                        f"({p.agent[key]!r}); allowed: the same value for members of one household")
            if sorted(map(json.dumps, p.agent["other_members"])) != sorted(map(json.dumps, q.agent["other_members"])):
                raise ParameterError(f"{q.path}: key 'agent.other_members' differs from {p.id}.toml; "
                                     f"allowed: the same non-persona members for one household")
    return personas


# ------------------------------------------------------------------ derived views
def segment_marginals(personas: list[Persona]) -> dict[str, float]:
    """Household-weighted shares implied by the segment priors (before raking).

    A quick consistency check against AMP figures: car ownership, tenure,
    household types, and the approximate population per household.
    """
    out: dict[str, float] = {}
    w = [p.segment["share_households"] for p in personas]
    def mean(f):  # noqa: E306
        return float(sum(wi * f(p.segment) for wi, p in zip(w, personas)))
    out["households_with_car"] = mean(lambda s: 1.0 - s["cars"]["0"])
    out["cars_per_household"] = mean(lambda s: s["cars"]["1"] + 2 * s["cars"]["2"])
    for t in state.TENURE:
        out[f"tenure_{t}"] = mean(lambda s, t=t: s["tenure"][t])
    for t in state.HH_TYPE:
        out[f"hh_type_{t}"] = mean(lambda s, t=t: s["hh_type"][t])
    out["head_65_plus"] = mean(lambda s: 1.0 if s["head_age"][0] >= 65 else 0.0)

    def size(s):
        h = s["hh_type"]
        kids = s["children_mean"]
        return (h["single"] + 2 * h["couple"] + h["couple_children"] * (2 + kids)
                + h["single_parent"] * (1 + kids) + h["other"] * 2.5)
    out["persons_per_household"] = mean(size)
    return out


_T = {
    "en": {
        "cols": ("Persona", "Age", "Household", "Education", "Job status", "Licence / cars",
                 "Tenure & condition", "Home pole", "Segment (share of households)"),
        "title": "The eight personas (2017) and the segments they stand for",
        "sex": {"female": "F", "male": "M"},
        "edu": {"no_bac": "below bac", "bac": "bac", "higher": "higher education"},
        "status": {"child": "child", "student": "student", "employed": "employed",
                   "unemployed": "unemployed", "inactive": "inactive", "retired": "retired"},
        "hh_type": {"single": "lives alone", "couple": "couple", "couple_children": "couple with children",
                    "single_parent": "single parent", "other": "other / shared"},
        "tenure": {"owner": "owner", "private_rent": "private tenant", "social_rent": "social tenant",
                   "with_parents_or_none": "hosted"},
        "condition": {"decent": "decent", "degraded": "degraded", "energy_sink": "energy sink"},
        "licence": ("licence", "no licence"), "car": "car(s)", "with": "with",
        "members": "other member(s)",
        "sector": {"aero_mechanics": "aeronautics-mechanics", "maritime_logistics": "maritime-logistics",
                   "health": "health", "energy_environment": "energy-environment",
                   "digital_creative": "digital-creative", "tourism_lifestyle": "tourism",
                   "agriculture": "agriculture", "public_services": "public services",
                   "retail": "retail", "other": "other"},
    },
    "fr": {
        "cols": ("Persona", "Âge", "Ménage", "Diplôme", "Situation", "Permis / voitures",
                 "Statut & état du logement", "Pôle", "Segment (part des ménages)"),
        "title": "Les huit personas (2017) et les segments qu'ils représentent",
        "sex": {"female": "F", "male": "H"},
        "edu": {"no_bac": "sans le bac", "bac": "bac", "higher": "supérieur"},
        "status": {"child": "enfant", "student": "étudiant·e", "employed": "en emploi",
                   "unemployed": "au chômage", "inactive": "inactif·ve", "retired": "retraité·e"},
        "hh_type": {"single": "seul·e", "couple": "couple", "couple_children": "couple avec enfants",
                    "single_parent": "famille monoparentale", "other": "autre / colocation"},
        "tenure": {"owner": "propriétaire", "private_rent": "locataire privé", "social_rent": "locataire HLM",
                   "with_parents_or_none": "hébergé·e"},
        "condition": {"decent": "correct", "degraded": "dégradé", "energy_sink": "passoire énergétique"},
        "licence": ("permis", "sans permis"), "car": "voiture(s)", "with": "avec",
        "members": "autre(s) membre(s)",
        "sector": {"aero_mechanics": "aéronautique-mécanique", "maritime_logistics": "maritime-logistique",
                   "health": "santé", "energy_environment": "énergie-environnement",
                   "digital_creative": "numérique-créatif", "tourism_lifestyle": "tourisme",
                   "agriculture": "agriculture", "public_services": "services publics",
                   "retail": "commerce", "other": "autre"},
    },
}


def personas_table(personas: list[Persona], lang: str = "en",
                   pole_names: Mapping[str, str] | None = None):
    """A rich Table of the eight cards (``lang`` = "en" or "fr")."""
    from rich.table import Table

    if lang not in _T:
        raise ParameterError(f"lang {lang!r}; allowed: en, fr")
    t = _T[lang]
    names = {p.id: p.name for p in personas}
    table = Table(title=t["title"], show_lines=True)
    for c in t["cols"]:
        table.add_column(c, overflow="fold")
    for p in personas:
        a, s = p.agent, p.segment
        hh = t["hh_type"][a["hh_type"]]
        if p.household_with:
            hh += f" ({t['with']} " + ", ".join(names.get(i, i) for i in p.household_with) + ")"
        if a["other_members"]:
            hh += "; " + ", ".join(f"{m['age']}{t['sex'][m['sex']]}" for m in a["other_members"])
        status = t["status"][a["status"]]
        if a["sector"] != "none":
            status += f" ({t['sector'][a['sector']]})"
        pole = a["home_pole"]
        if pole_names and pole in pole_names:
            pole = f"{pole} {pole_names[pole]}"
        table.add_row(
            f"{p.name}\n{p.title(lang)}",
            f"{a['age']} {t['sex'][a['sex']]}",
            hh,
            t["edu"][a["edu"]],
            status,
            f"{t['licence'][0] if a['licence'] else t['licence'][1]}, {a['cars']} {t['car']}",
            f"{t['tenure'][a['tenure']]}, {t['condition'][a['condition']]}",
            pole,
            f"{p.label(lang)} ({100 * s['share_households']:.0f} %)",
        )
    return table


def personas_json(personas: list[Persona]) -> list[dict[str, Any]]:
    """Full cards with booklet lines and sources, JSON-serialisable."""
    out = []
    for p in personas:
        out.append({
            "id": p.id, "name": p.name, "order": p.order,
            "title_en": p.title_en, "title_fr": p.title_fr,
            "quote_fr": p.quote_fr, "quote_lines": p.quote_lines,
            "household_with": list(p.household_with),
            "card": {k: dict(v) for k, v in p.card.items()},
            "agent": {k: {"value": v, "source": p.sources[f"agent.{k}"]} for k, v in p.agent.items()},
            "segment": {
                **{k: p.segment[k] for k in _SEGMENT_TEXT},
                **{k: {"value": p.segment[k], "unit": p.units[f"segment.{k}"],
                       "source": p.sources[f"segment.{k}"]} for k in _SEGMENT_SPECS},
            },
        })
    json.dumps(out)  # fail here, not in the caller, if anything is not serialisable
    return out
