"""Persona stories for 2040 (French and English) and persona coverage.

A story is written from the persona's simulated trajectory (personas.parquet
rows) — where they live, how they commute and how long it takes, work status
and income, housing — with the numbers of the run. The engagements that
changed the persona's path are found by counterfactual: the same scenario
and seeds without one engagement at a time; an engagement is named when
removing it changes the persona's last-year employment, commute (>= 5 min),
income (>= 5 %) or housing cost burden (>= 3 points) in the same direction
in every seed (see robust_changes).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import state as S

MODE_WORDS = {
    "fr": {"car": "en voiture", "carpool": "en covoiturage", "transit": "en transports en commun",
           "bike": "à vélo", "walk": "à pied", "": "sans trajet domicile-travail"},
    "en": {"car": "by car", "carpool": "by carpool", "transit": "by public transport",
           "bike": "by bike", "walk": "on foot", "": "with no commute"},
}
STATUS_WORDS = {
    "fr": {"employed": "a un emploi", "unemployed": "cherche un emploi", "inactive": "est sans activité",
           "student": "étudie", "retired": "est à la retraite", "child": "est scolarisé·e"},
    "en": {"employed": "has a job", "unemployed": "is looking for a job", "inactive": "is out of the labour force",
           "student": "is a student", "retired": "is retired", "child": "is at school"},
}
TENURE_WORDS = {
    "fr": {"owner": "propriétaire", "private_rent": "locataire du parc privé",
           "social_rent": "locataire d'un logement social", "with_parents_or_none": "sans logement à soi"},
    "en": {"owner": "an owner", "private_rent": "a private tenant", "social_rent": "a social-housing tenant",
           "with_parents_or_none": "without a home of their own"},
}
CONDITION_WORDS = {
    "fr": {"decent": "un logement en bon état", "degraded": "un logement dégradé",
           "energy_sink": "une passoire énergétique"},
    "en": {"decent": "a decent dwelling", "degraded": "a run-down dwelling", "energy_sink": "an energy sink"},
}
SECTOR_WORDS = {
    "fr": {"aero_mechanics": "l'aéronautique-mécanique", "maritime_logistics": "le maritime et la logistique",
           "health": "la santé", "energy_environment": "l'énergie et l'environnement",
           "digital_creative": "le numérique et les industries créatives",
           "tourism_lifestyle": "le tourisme et l'art de vivre", "agriculture": "l'agriculture",
           "public_services": "les services publics", "retail": "le commerce", "other": "les services"},
    "en": {"aero_mechanics": "aeronautics and mechanics", "maritime_logistics": "maritime and logistics",
           "health": "health", "energy_environment": "energy and environment",
           "digital_creative": "digital and creative industries", "tourism_lifestyle": "tourism and lifestyle",
           "agriculture": "agriculture", "public_services": "public services", "retail": "retail",
           "other": "services"},
}


@dataclass
class Change:
    engagement: str
    name: str
    what: list[str]


def _f(x: float, lang: str, nd: int = 0) -> str:
    s = f"{x:,.{nd}f}"
    return s.replace(",", "\u202f").replace(".", ",") if lang == "fr" else s


def _burden(row: pd.Series) -> float:
    inc = max(float(row.get("household_income_eur_month", row.get("income_eur_month", 0.0)) or 0.0), 1.0)
    return 100.0 * (float(row.get("housing_cost_eur_month", 0.0)) + float(row.get("energy_cost_eur_month", 0.0))) / inc


def persona_path(personas: pd.DataFrame, pid: str, scenario: str | None = None) -> pd.DataFrame:
    df = personas[personas.persona == pid]
    if scenario is not None:
        df = df[df.scenario == scenario]
    if "replicate" in df:
        df = df[df.replicate == df.replicate.min()]
    return df.sort_values("year")


def compare_rows(a: pd.Series, b: pd.Series) -> list[str]:
    """What differs materially between two persona rows (a = with, b = without an engagement)."""
    what = []
    if a["status"] != b["status"]:
        what.append("status")
    if abs(float(a["commute_min"]) - float(b["commute_min"])) >= 5:
        what.append("commute")
    ia, ib = float(a["income_eur_month"]), float(b["income_eur_month"])
    if abs(ia - ib) >= 0.05 * max(ib, 1.0):
        what.append("income")
    if abs(_burden(a) - _burden(b)) >= 3 or a["condition"] != b["condition"] or a["tenure"] != b["tenure"] \
            or a["home_pole"] != b["home_pole"]:
        what.append("housing")
    return what


def story(pid: str, path: pd.DataFrame, lang: str, pole_names: dict[str, str],
          changes: list[Change] | None = None, name: str | None = None) -> str:
    """A short first-person-free narrative of the persona's 2017 -> last year trajectory."""
    if path.empty:
        raise ValueError(f"no rows for persona {pid}")
    first, last = path.iloc[0], path.iloc[-1]
    nm = name or pid.replace("_", "-").title()
    y0, y1 = int(first["year"]), int(last["year"])
    W = lambda d, k: d[lang].get(k, k)  # noqa: E731
    home = pole_names.get(last["home_pole"], last["home_pole"])
    parts = []
    if lang == "fr":
        parts.append(f"{nm}, {y1} : vit à {home}, {W(TENURE_WORDS, last['tenure'])}, dans "
                     f"{W(CONDITION_WORDS, last['condition'])}")
        cost = float(last["housing_cost_eur_month"]) + float(last["energy_cost_eur_month"])
        if cost > 0:
            parts[-1] += f" ({_f(cost, lang)} € par mois avec l'énergie, {_f(_burden(last), lang)} % des revenus du ménage)"
        parts[-1] += "."
    else:
        parts.append(f"{nm}, {y1}: lives in {home}, {W(TENURE_WORDS, last['tenure'])}, in "
                     f"{W(CONDITION_WORDS, last['condition'])}")
        cost = float(last["housing_cost_eur_month"]) + float(last["energy_cost_eur_month"])
        if cost > 0:
            parts[-1] += f" ({_f(cost, lang)} € a month with energy, {_f(_burden(last), lang)} % of household income)"
        parts[-1] += "."
    st = last["status"]
    emp_years = path[path.status == "employed"].year
    if st == "employed":
        work = pole_names.get(last["job_pole"], last["job_pole"] or "")
        sect = W(SECTOR_WORDS, last["sector"]) if last["sector"] else ""
        since = int(emp_years.iloc[0]) if len(emp_years) and first["status"] != "employed" else None
        mode = W(MODE_WORDS, last["mode"])
        if lang == "fr":
            s = f"{nm} {W(STATUS_WORDS, st)}" + (f" dans {sect}" if sect else "") + (f" à {work}" if work else "")
            s += f" depuis {since}" if since else ""
            s += f", {_f(float(last['income_eur_month']), lang)} € nets par mois"
            if float(last["commute_min"]) > 0:
                s += f" ; {_f(float(last['commute_min']), lang)} minutes de porte à porte {mode}"
                if first["status"] == "employed" and float(first["commute_min"]) > 0:
                    s += f" (contre {_f(float(first['commute_min']), lang)} en {y0}, {W(MODE_WORDS, first['mode'])})"
        else:
            s = f"{nm} {W(STATUS_WORDS, st)}" + (f" in {sect}" if sect else "") + (f" in {work}" if work else "")
            s += f" since {since}" if since else ""
            s += f", earning {_f(float(last['income_eur_month']), lang)} € net a month"
            if float(last["commute_min"]) > 0:
                s += f"; {_f(float(last['commute_min']), lang)} minutes door to door {mode}"
                if first["status"] == "employed" and float(first["commute_min"]) > 0:
                    s += f" (against {_f(float(first['commute_min']), lang)} in {y0}, {W(MODE_WORDS, first['mode'])})"
        parts.append(s + ".")
    else:
        if lang == "fr":
            s = f"{nm} {W(STATUS_WORDS, st)} en {y1} ({_f(float(last['income_eur_month']), lang)} € par mois)"
            if first["status"] != st:
                s += f" ; en {y0}, {W(STATUS_WORDS, first['status'])}"
        else:
            s = f"{nm} {W(STATUS_WORDS, st)} in {y1} ({_f(float(last['income_eur_month']), lang)} € a month)"
            if first["status"] != st:
                s += f"; in {y0}, {W(STATUS_WORDS, first['status'])}"
        parts.append(s + ".")
    if changes is not None:
        if changes:
            words = {"fr": {"status": "la situation d'emploi", "commute": "le trajet", "income": "le revenu",
                            "housing": "le logement"},
                     "en": {"status": "work status", "commute": "commute", "income": "income",
                            "housing": "housing"}}[lang]
            items = [f"{c.name} ({', '.join(words[w] for w in c.what)})" for c in changes]
            parts.append(("Ce qui a changé son parcours : " if lang == "fr" else
                          "What changed this path: ") + "; ".join(items) + ".")
        else:
            parts.append("Aucun engagement pris seul ne change nettement son parcours dans cette simulation."
                         if lang == "fr" else
                         "No single engagement clearly changes this path in this run.")
    return " ".join(parts)


def _outcomes(row: pd.Series) -> dict[str, float]:
    return {"status": float(row["status"] == "employed"), "commute": float(row["commute_min"]),
            "income": float(row["income_eur_month"]), "housing": _burden(row)}


#: smallest mean change (across seeds) that counts as "changed this path"
THRESHOLDS = {"status": 0.5, "commute": 5.0, "income": 0.05, "housing": 3.0}


def robust_changes(pid: str, with_runs: dict[int, pd.DataFrame], without_runs: dict[tuple[str, int], pd.DataFrame],
                   names: dict[str, str], top: int = 3) -> list[Change]:
    """Engagements whose removal moves the persona's last-year outcomes consistently across seeds.

    A single run is chaotic at the level of one person (removing any lever
    reshuffles who gets which job), so an engagement is named only when,
    over the seeds given, its removal changes an outcome in the same
    direction in every seed and by at least THRESHOLDS on average (income
    relative to the with-engagement value). The `top` largest are kept.
    """
    engs = sorted({e for e, _ in without_runs})
    scored = []
    for e in engs:
        what, score = [], 0.0
        for k, thr in THRESHOLDS.items():
            diffs = []
            for seed, df in with_runs.items():
                if (e, seed) not in without_runs:
                    continue
                a = _outcomes(persona_path(df, pid).iloc[-1])
                b = _outcomes(persona_path(without_runs[(e, seed)], pid).iloc[-1])
                d = a[k] - b[k]
                if k == "income":
                    d = d / max(abs(a[k]), 1.0)
                diffs.append(d)
            if not diffs:
                continue
            same_sign = all(x > 0 for x in diffs) or all(x < 0 for x in diffs)
            mean = float(np.mean(diffs))
            if same_sign and abs(mean) >= thr:
                what.append(k)
                score += abs(mean) / thr
        if what:
            scored.append((score, Change(e, names.get(e, e), what)))
    scored.sort(key=lambda x: -x[0])
    return [c for _, c in scored[:top]]


def counterfactual_changes(pid: str, scenario: str, scale: float, seed: int, end_year: int | None = None,
                           lang: str = "en", result=None, seeds: int = 3) -> tuple[Any, list[Change]]:
    """Run the scenario and, for each of its engagements, the same seeds without it (see robust_changes)."""
    from .engagements import catalogue
    from .results import run
    from .scenario import load_scenario
    sc = load_scenario(scenario)
    seed_list = [seed + k for k in range(seeds)]
    with_runs = {}
    res = None
    for s in seed_list:
        r = result if (result is not None and s == seed) else run(scenario, scale=scale, seed=s, end_year=end_year)
        with_runs[s] = r.personas
        if s == seed:
            res = r
    cat = catalogue()
    without = runs_without_each_engagement(scenario, scale, seed_list, end_year)
    names = {e: f"E{cat[e].number} {cat[e].name_fr if lang == 'fr' else cat[e].name_en}" for e in sc.engagements}
    return res, robust_changes(pid, with_runs, without, names)


def runs_without_each_engagement(scenario: str, scale: float, seeds: list[int],
                                 end_year: int | None = None) -> dict[tuple[str, int], pd.DataFrame]:
    """Persona tables of the scenario run without one of its engagements at a time, per seed."""
    from .engagements import catalogue
    from .results import run
    from .scenario import load_scenario
    sc = load_scenario(scenario)
    cat = catalogue()
    out = {}
    for eid in sorted(sc.engagements, key=lambda e: cat[e].number):
        sc2 = load_scenario(scenario)
        del sc2.engagements[eid]
        sc2.name = f"{sc.name}-without-{eid}"
        for s in seeds:
            out[(eid, s)] = run(sc2, scale=scale, seed=s, end_year=end_year).personas
    return out


def coverage(model) -> dict[str, Any]:
    """How many people each persona's segment stands for, where, and who no persona represents well.

    A person is 'well represented' by their segment's persona when they are in
    the same broad life stage (age within 15 years) and the same activity
    status; the groups (age band x status) with the lowest share of
    well-represented people are listed.
    """
    p, h = model.persons, model.households
    alive = p.alive
    w = h.weight[p.hh] * alive
    ids = model.territory.ids
    out: dict[str, Any] = {"segments": [], "poorly_represented": []}
    p_age = np.zeros(len(model.segment_ids))
    p_status = np.zeros(len(model.segment_ids), dtype=int)
    for i, pid in enumerate(model.segment_ids):
        row = model.named[pid]
        p_age[i], p_status[i] = p.age[row], p.status[row]
        m = alive & (p.segment == i)
        by_pole = np.bincount(h.pole[p.hh[m]], weights=w[m], minlength=len(ids))
        top = np.argsort(-by_pole)[:3]
        out["segments"].append({"persona": pid, "persons": float(w[m].sum()),
                                "share": float(w[m].sum() / w.sum()),
                                "top_poles": [{"pole": ids[j], "persons": float(by_pole[j])} for j in top]})
    well = alive & (np.abs(p.age - p_age[p.segment]) <= 15) & (p.status == p_status[p.segment])
    bands = [(0, 15), (15, 25), (25, 45), (45, 65), (65, 120)]
    rows = []
    for lo, hi in bands:
        for code, st in enumerate(S.STATUS):
            m = alive & (p.age >= lo) & (p.age < hi) & (p.status == code)
            tot = w[m].sum()
            if tot < 0.005 * w.sum():
                continue
            rows.append({"group": f"age {lo}-{hi - 1 if hi < 120 else '+'} {st}", "persons": float(tot),
                         "well_represented_share": float(w[m & well].sum() / tot)})
    rows.sort(key=lambda r: (r["well_represented_share"], -r["persons"]))
    out["poorly_represented"] = rows[:6]
    out["well_represented_share"] = float(w[well].sum() / w.sum())
    return out
