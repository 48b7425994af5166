"""Fabrique 2040: agent-based scenario simulator of the Aix-Marseille-Provence metropolis.

Python API::

    import simulator
    res = simulator.run(scenario="baseline", scale=0.01, seed=1)
    res.metrics      # tidy DataFrame: scenario, replicate, seed, year, metric, group, value
    res.personas     # one row per named persona per year
"""
__version__ = "0.1.0"

from .params import ParameterError  # noqa: E402


def run(*args, **kwargs):
    """Run one scenario; see simulator.results.run."""
    from .results import run as _run
    return _run(*args, **kwargs)


def __getattr__(name):
    if name == "FabriqueModel":
        from .model import FabriqueModel
        return FabriqueModel
    if name == "load_results":
        from .runner import load_results
        return load_results
    raise AttributeError(name)


__all__ = ["run", "FabriqueModel", "ParameterError", "load_results", "__version__"]
