"""Shared fixtures: one small baseline run reused by many tests."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def baseline_result():
    from simulator import run
    return run("baseline", scale=0.01, seed=1, strict=True)


@pytest.fixture(scope="session")
def baseline_model():
    from simulator.model import FabriqueModel
    m = FabriqueModel("baseline", scale=0.01, seed=3, strict=True)
    m.run_model()
    return m
