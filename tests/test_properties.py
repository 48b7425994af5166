"""Property-based tests: any parameter values inside their declared ranges give a valid run.

Hypothesis draws overrides for a handful of key behavioural parameters of
every process, anywhere in the range their ``Spec`` declares (the same
ranges scenario files, sweeps and calibration are allowed to use), plus a
seed; the model then runs 4 years at scale 0.002 in strict mode (every
invariant checked every year) and its outputs must stay physical: shares
and rates in [0, 1], times, counts, prices and costs >= 0, population and
households > 0, nothing infinite.

By default the search is derandomised (the same examples on every CI run);
``HYPOTHESIS_PROFILE=explore python3 -m pytest tests/test_properties.py``
searches 200 fresh random examples.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.model import FabriqueModel
from simulator.scenario import process_specs

settings.register_profile("ci", max_examples=10, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=200, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])

#: key behavioural parameters of each process (levers of the engagements and main drivers)
KEYS = [
    ("demography", "fertility_factor"), ("demography", "net_migration"), ("demography", "leave_home_rate"),
    ("economy", "net_job_creation"),
    ("labour", "base_finding_hazard"), ("labour", "separation_rate"), ("labour", "mentoring_capacity_per_year"),
    ("housing", "construction_per_year"), ("housing", "price_trend"), ("housing", "social_share_new"),
    ("mobility", "transit_headway_scale"), ("mobility", "road_capacity_scale"), ("mobility", "single_fare_eur"),
    ("mobility", "car_cost_per_km"),
]
SPECS = process_specs()

#: metrics that may be negative by definition
SIGNED = {"net_migration", "jobs_created"}


def _value(proc: str, key: str):
    sp = SPECS[proc][key]
    assert sp.ge is not None and sp.le is not None, f"{proc}.{key} has no declared range"
    if sp.kind == "int":
        return st.integers(int(sp.ge), int(sp.le))
    return st.floats(sp.ge, sp.le, allow_nan=False, allow_infinity=False)


@st.composite
def overrides(draw):
    chosen = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=5, unique=True))
    out: dict[str, dict] = {}
    for proc, key in chosen:
        out.setdefault(proc, {})[key] = draw(_value(proc, key))
    return out


def test_keys_exist_with_declared_ranges():
    for proc, key in KEYS:
        _value(proc, key)


def check_physical(metrics) -> list[str]:
    """Values out of their physical range, as readable strings (empty = fine)."""
    bad = []
    v = metrics["value"].to_numpy()
    if np.isinf(v).any():
        bad.append(f"inf in {sorted(set(metrics.metric[np.isinf(v)]))}")
    share = metrics.metric.str.contains("_share") | metrics.metric.str.endswith("_rate")
    s = metrics[share].dropna(subset=["value"])
    out = s[(s.value < -1e-9) | (s.value > 1 + 1e-9)]
    if len(out):
        bad.append(f"shares/rates outside [0, 1]: {out.head(5).to_dict('records')}")
    nonneg = metrics[~share & ~metrics.metric.isin(SIGNED)].dropna(subset=["value"])
    neg = nonneg[nonneg.value < -1e-9]
    if len(neg):
        bad.append(f"negative values: {neg.head(5).to_dict('records')}")
    allg = metrics[metrics.group == "all"]
    for name in ("population", "households", "dwellings"):
        vals = allg[allg.metric == name].value
        if not (vals > 0).all():
            bad.append(f"{name} not > 0: {vals.tolist()}")
    ct = allg[allg.metric == "commute_time_min"].value
    if ct.isna().any():
        bad.append("commute_time_min is NaN (no commuters)")
    return bad


PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")


@pytest.mark.timeout(300 if PROFILE == "ci" else 0)
@settings(settings.get_profile(PROFILE))
@given(ov=overrides(), seed=st.integers(1, 10_000))
def test_any_parameters_in_range_give_a_valid_run(ov, seed):
    import pandas as pd
    m = FabriqueModel("baseline", scale=0.002, seed=seed, strict=True, end_year=2021, overrides=ov)
    m.run_model()                      # strict: InvariantError if any invariant breaks
    assert m.year == 2021
    met = pd.DataFrame(m.metric_rows, columns=["year", "metric", "group", "value"])
    bad = check_physical(met)
    assert not bad, f"overrides {ov}, seed {seed}: " + "; ".join(bad)


def test_physical_check_catches_bad_values():
    import pandas as pd
    met = pd.DataFrame([(2017, "unemployment_rate", "all", 1.2), (2017, "commute_time_min", "all", -3.0),
                        (2017, "population", "all", 0.0), (2017, "net_migration", "all", -40.0)],
                       columns=["year", "metric", "group", "value"])
    bad = " ".join(check_physical(met))
    assert "unemployment_rate" in bad and "commute_time_min" in bad and "population not > 0" in bad
    assert "net_migration" not in bad
