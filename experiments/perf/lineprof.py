"""Line profile functions at full scale: python3 experiments/perf/lineprof.py module func [module.func ...]

line_profiler is not a project dependency (pip install line_profiler). Runs fabrique2040 at scale 1.0 to 2026,
profiling the years after two warm-up years, metrics in line."""
import sys, importlib
from line_profiler import LineProfiler
from simulator import FabriqueModel
mod, fn = sys.argv[1], sys.argv[2]
M = importlib.import_module(mod)
m = FabriqueModel("fabrique2040", scale=1.0, seed=1, overlap_metrics=False, end_year=2026)
for _ in range(2): m.step()
lp = LineProfiler(); lp.add_function(getattr(M, fn))
for extra in sys.argv[3:]:
    a, b = extra.rsplit(".", 1); lp.add_function(getattr(importlib.import_module(a), b))
lp.enable_by_count()
m.run_model()
lp.disable_by_count()
lp.print_stats(output_unit=1e-3, stripzeros=True)
