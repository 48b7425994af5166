"""Mobility tools: driving licences and household cars evolve with the population.

Demography gives newborns no licence and households of young people leaving
home no car; without this submodel the share of workers able to drive
would fall year after year. Each year (vectorised, ``model.stream('mobility')``):

* a person aged ``licence_ages`` without a licence passes it with the annual
  probability h_s = 1 - (1 - L_s)^(1 / years in the window), where L_s is
  the licence share of the person's persona segment (personas/*.toml), so a
  cohort reaches its segment's share by the end of the window;
* a household without a car but with a licensed adult buys one with the
  annual probability ``car_acquisition_rate``.

The eight named personas' households keep their booklet values.
"""
from __future__ import annotations

import numpy as np


def update(model, prm: dict, rng: np.random.Generator) -> dict[str, float]:
    """One year of licences and car purchases."""
    p, h = model.persons, model.households
    hh = p.hh
    named = np.zeros(h.n, dtype=bool)
    named[model.named_households] = True
    a0, a1 = prm["licence_ages"]
    years = max(a1 - a0 + 1, 1)
    seg_share = np.array([float(s.segment["licence"]) for s in model.personas])
    hazard = 1.0 - (1.0 - np.clip(seg_share, 0.0, 0.999)) ** (1.0 / years)
    ci = np.flatnonzero(p.alive & ~p.licence & (p.age >= a0) & (p.age <= a1))
    u = rng.random(p.n)                                   # one draw per person row, as before
    new_lic = ci[u[ci] < hazard[p.segment[ci]]]
    new_lic = new_lic[~named[hh[new_lic]]]                # (the named households keep theirs: fewer rows to test)
    p.licence[new_lic] = True
    carless = h.alive & (h.car == 0) & ~named
    driver = carless[hh]                                # licensed living adults of car-less households
    driver &= p.alive
    driver &= p.licence
    driver &= p.age >= 18
    hcand = np.zeros(h.n, dtype=bool)
    hcand[hh[np.flatnonzero(driver)]] = True             # (few rows: an index selects faster than the mask)
    buy = np.flatnonzero(hcand & (rng.random(h.n) < prm["car_acquisition_rate"]))
    h.car[buy] = 1
    return {"licences_obtained": float(h.weight[hh[new_lic]].sum()), "cars_bought": float(h.weight[buy].sum())}
