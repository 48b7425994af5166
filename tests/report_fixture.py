"""Small synthetic result folders for the report tests (no model involved).

``make_sweep(root)`` writes ``root/runs/<scenario>_r<k>/`` for 2 scenarios x
3 replicates, years 2017-2020, with every metric the report knows (groups
all / segment=<persona> / pole=<id> / mode=<mode>), persona rows, flows,
a territory.json with a few poles, and stories/contributions on some runs.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

PERSONAS = ["sophie", "nicolas", "laurence", "carlos", "jean_stephane", "sarah", "huguette", "malika"]
POLES = [
    {"id": "Z01", "name": "Marseille Centre (1er–7e arr.)", "lat": 43.2959, "lon": 5.3833, "population": 278725,
     "kind": "metro_core"},
    {"id": "Z02", "name": "Marseille Nord (13e–16e arr.)", "lat": 43.3444, "lon": 5.3796, "population": 240666,
     "kind": "urban"},
    {"id": "Z08", "name": "Aix-en-Provence", "lat": 43.5283, "lon": 5.4497, "population": 143807, "kind": "urban"},
    {"id": "Z19", "name": "Istres", "lat": 43.5134, "lon": 4.9875, "population": 42816, "kind": "urban"},
    {"id": "Z21", "name": "Salon-de-Provence (+ couronne salonaise)", "lat": 43.6593, "lon": 5.1122,
     "population": 93340, "kind": "urban"},
]
TERRITORY = {
    "poles": POLES,
    "road": [{"from": "Z01", "to": "Z02", "capacity_veh_h": 6000}, {"from": "Z02", "to": "Z08", "capacity_veh_h": 4000},
             {"from": "Z08", "to": "Z21", "capacity_veh_h": 3000}, {"from": "Z21", "to": "Z19", "capacity_veh_h": 2000},
             {"from": "Z02", "to": "Z19", "capacity_veh_h": 2500}],
    "transit": [{"id": "TER_AIX", "name": "TER Marseille – Aix", "mode": "rail", "stops": ["Z01", "Z02", "Z08"]},
                {"id": "BUS_SAL", "name": "Car Salon – Istres", "mode": "bus", "stops": ["Z21", "Z19"]}],
}
MODES = ["car", "carpool", "transit", "bike", "walk"]
YEARS = list(range(2017, 2021))
SCENARIOS = ["baseline", "engagements_all"]

# metric -> (2017 level, yearly trend, scenario effect by 2020, noise sd)
LEVELS = {
    "commute_time_min": (34.0, 0.3, -5.5, 0.6), "commute_over_45min_share": (0.22, 0.002, -0.05, 0.005),
    "mobility_cost_eur_month": (180.0, 2.0, -15.0, 2.0), "congestion_index": (1.4, 0.02, -0.1, 0.01),
    "employment_rate": (0.58, 0.002, 0.02, 0.003), "unemployment_rate": (0.14, -0.001, -0.015, 0.003),
    "youth_jobless_rate": (0.2, -0.002, -0.03, 0.005), "long_term_unemployed_share": (0.45, 0.0, -0.04, 0.01),
    "jobs": (735000, 3000, 12000, 800), "vacancies": (20000, 100, -500, 200), "mean_income": (1900, 15, 30, 8),
    "housing_access_rate": (0.7, -0.003, 0.035, 0.004), "housing_cost_burden": (0.27, 0.002, -0.01, 0.003),
    "social_housing_wait_years": (4.5, 0.1, -0.8, 0.1), "price_to_income_t3": (6.2, 0.05, -0.2, 0.05),
    "young_adults_independent_share": (0.55, -0.002, 0.02, 0.005), "energy_poverty_share": (0.14, 0.0, -0.03, 0.004),
    "population": (1869000, 4000, 3000, 600), "households": (830000, 2500, 1500, 300),
    "population_60plus": (470000, 6000, 0, 200), "births": (22000, -100, 0, 150), "deaths": (16000, 150, 0, 150),
    "net_migration": (1500, 0, 500, 300),
}
ALL_ONLY = {"births", "deaths", "net_migration"}


def _metrics(scenario: str, rep: int, seed: int, rng: np.random.Generator, drop: set[str]) -> pd.DataFrame:
    eff = 1.0 if scenario != "baseline" else 0.0
    rows = []
    crn = np.random.default_rng(seed)  # common random numbers: same noise for the same seed
    for y in YEARS:
        k = (y - YEARS[0]) / (YEARS[-1] - YEARS[0])
        for m, (lvl, trend, effect, sd) in LEVELS.items():
            if m in drop:
                continue
            base = lvl + trend * (y - YEARS[0]) + crn.normal(0, sd)
            v = base + eff * effect * k + rng.normal(0, sd * 0.5) * eff
            rows.append((y, m, "all", v))
            if m in ALL_ONLY:
                continue
            scale = 1 / 8 if m in ("jobs", "vacancies", "population", "households", "population_60plus") else 1
            for i, p in enumerate(PERSONAS):
                rows.append((y, m, f"segment={p}", v * scale * (0.8 + 0.05 * i) + eff * effect * k * (i - 3) / 4))
            pscale = 1 / len(POLES) if scale != 1 else 1
            for j, pole in enumerate(POLES):
                rows.append((y, m, f"pole={pole['id']}", v * pscale * (0.9 + 0.05 * j) + eff * effect * k * (j - 2) / 3))
        if "mode_share" not in drop:
            shares = np.array([0.62, 0.05, 0.2, 0.03, 0.1])
            if eff:
                shares = shares + np.array([-0.06, 0.01, 0.04, 0.01, 0.0]) * (y - YEARS[0]) / 3
            shares = shares + crn.normal(0, 0.003, 5)
            shares = shares / shares.sum()
            for mo, s in zip(MODES, shares):
                rows.append((y, "mode_share", f"mode={mo}", float(s)))
    df = pd.DataFrame(rows, columns=["year", "metric", "group", "value"])
    df.insert(0, "seed", seed)
    df.insert(0, "replicate", rep)
    df.insert(0, "scenario", scenario)
    df["year"] = df["year"].astype("int32")
    return df


def _personas(scenario: str, rep: int, seed: int) -> pd.DataFrame:
    rows = []
    homes = ["Z21", "Z21", "Z19", "Z02", "Z08", "Z01", "Z01", "Z02"]
    ages = [31, 30, 45, 52, 47, 26, 72, 19]
    status0 = ["unemployed", "employed", "employed", "unemployed", "employed", "employed", "retired", "student"]
    for i, p in enumerate(PERSONAS):
        for y in YEARS:
            k = y - YEARS[0]
            st = status0[i]
            if scenario != "baseline" and st == "unemployed" and k >= 2:
                st = "employed"
            if p == "malika" and k >= 3:
                st = "employed"
            employed = st == "employed"
            commute = (52 - (8 * k if scenario != "baseline" else 0) + rep) if employed else 0.0
            rows.append({
                "persona": p, "year": y, "alive": True, "age": ages[i] + k, "home_pole": homes[i], "status": st,
                "edu": "bac", "skill": "mid", "job_pole": ("Z19" if i % 2 else "outside_AMP") if employed else "",
                "sector": "retail" if employed else "", "income_eur_month": 900.0 + 300 * i + 50 * k * (i % 3),
                "licence": i != 0, "cars": 0 if i == 0 else 1,
                "tenure": ["private_rent", "owner", "owner", "social_rent", "owner", "private_rent", "owner",
                           "with_parents_or_none"][i],
                "dwelling_size": "small", "condition": "energy_sink" if i == 0 else "decent",
                "housing_cost_eur_month": 550.0 + 20 * i - (5 * k if scenario != "baseline" else 0),
                "energy_cost_eur_month": 90.0, "mode": ("transit" if i in (0, 5, 7) else "car") if employed else "",
                "commute_min": float(commute), "mobility_cost_eur_month": 60.0, "mentored_years_left": 0,
                "training_years_left": 0, "social_wait_years": 0.0,
            })
    df = pd.DataFrame(rows)
    df.insert(0, "seed", seed)
    df.insert(0, "replicate", rep)
    df.insert(0, "scenario", scenario)
    return df


def _flows(scenario: str, rep: int, seed: int, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    ids = [p["id"] for p in POLES]
    for y in YEARS:
        for a in ids:
            for b in ids:
                for mo in ("car", "transit"):
                    base = 30000 if a == b else 2500 * (1 + (ids.index(a) + ids.index(b)) % 3)
                    if mo == "transit":
                        base *= 0.3 if scenario == "baseline" else 0.5
                    rows.append((y, a, b, mo, float(base * rng.uniform(0.9, 1.1))))
    df = pd.DataFrame(rows, columns=["year", "home_pole", "work_pole", "mode", "commuters"])
    df.insert(0, "seed", seed)
    df.insert(0, "replicate", rep)
    df.insert(0, "scenario", scenario)
    return df


def make_run(folder: Path, scenario: str, rep: int, seed: int, drop: set[str] = frozenset(),
             stories: bool = False, contributions: bool = False, territory: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1000 * seed + (7 if scenario != "baseline" else 0))
    _metrics(scenario, rep, seed, rng, set(drop)).to_parquet(folder / "metrics.parquet", index=False)
    _personas(scenario, rep, seed).to_parquet(folder / "personas.parquet", index=False)
    _flows(scenario, rep, seed, rng).to_parquet(folder / "flows.parquet", index=False)
    manifest = {"package": "fabrique2040", "version": "0.1.0", "git_commit": "0123456789abcdef",
                "scenario": scenario, "scenario_hash": ("a1b2c3d4e5f6" if scenario == "baseline" else "f6e5d4c3b2a1"),
                "seed": seed, "replicate": rep, "scale": 0.01, "start_year": YEARS[0], "end_year": YEARS[-1],
                "engagements": [] if scenario == "baseline" else ["2", "7", "8"], "created": "2025-01-01T00:00:00"}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    if territory:
        (folder / "territory.json").write_text(json.dumps(TERRITORY, ensure_ascii=False, indent=1))
    if stories:
        (folder / "stories.json").write_text(json.dumps({
            "sophie": {"fr": "Sophie, 2040 : 52 → 24 min pour aller travailler, en emploi depuis 2027 (parrainage).",
                       "en": "Sophie, 2040: 52 → 24 min to work, employed since 2027 (mentoring)."},
            "carlos": {"fr": "Carlos a retrouvé un emploi à Fos après sa reconversion.",
                       "en": "Carlos found a job in Fos after retraining."}}, ensure_ascii=False))
    if contributions:
        (folder / "contributions.json").write_text(json.dumps([
            {"engagement": "2", "metric": "commute_time_min", "delta": -3.1, "low": -4.0, "high": -2.2},
            {"engagement": "7", "metric": "commute_time_min", "delta": -0.2, "low": -0.9, "high": 0.5},
            {"engagement": "8", "metric": "commute_time_min", "delta": -1.0, "low": -1.6, "high": -0.4},
            {"engagement": "2", "metric": "employment_rate", "delta": 0.004, "low": 0.001, "high": 0.007},
            {"engagement": "7", "metric": "employment_rate", "delta": 0.012, "low": 0.008, "high": 0.016},
            {"engagement": "8", "metric": "employment_rate", "delta": 0.002, "low": -0.001, "high": 0.005},
            {"engagement": "2", "metric": "housing_access_rate", "delta": 0.003, "low": -0.002, "high": 0.008},
            {"engagement": "7", "metric": "housing_access_rate", "delta": 0.001, "low": -0.003, "high": 0.005},
            {"engagement": "8", "metric": "housing_access_rate", "delta": 0.03, "low": 0.022, "high": 0.038},
        ]))
    return folder


def make_sweep(root: Path, drop: set[str] = frozenset(), replicates: int = 3) -> Path:
    """Write 2 scenarios x ``replicates`` run folders under ``root/runs``; return ``root``."""
    for s in SCENARIOS:
        for rep in range(replicates):
            make_run(root / "runs" / f"{s}_r{rep}", s, rep, seed=rep + 1, drop=drop,
                     stories=(s != "baseline" and rep == 0), contributions=(s != "baseline" and rep == 0))
    return root


if __name__ == "__main__":  # python tests/report_fixture.py OUT_DIR
    import sys
    print(make_sweep(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/fabrique_report_fixture")))
