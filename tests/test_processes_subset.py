"""Running a subset of the processes (e.g. demography alone for population studies)."""
from __future__ import annotations

import pytest

from simulator.model import FabriqueModel
from simulator.params import ParameterError


def test_demography_alone_runs_and_keeps_accounting():
    m = FabriqueModel(scale=0.003, seed=2, end_year=2022, strict=True, processes=("demography",))
    assert list(m.processes) == ["demography"]
    m.run_model()
    assert m.year == 2022


def test_requirements_and_unknown_names_are_refused():
    with pytest.raises(ParameterError, match="'labour' needs"):
        FabriqueModel(scale=0.002, processes=("demography", "labour"))
    with pytest.raises(ParameterError, match="unknown process"):
        FabriqueModel(scale=0.002, processes=("weather",))
