"""Fingerprint of a mid-size run (outputs must not change for a pure speed change).

usage:  python3 experiments/perf/fingerprint.py [scale] [end_year]
Prints which simulator package is used and the sha256 (first 16 hex digits) of the metric rows, persona
rows and flow rows of fabrique2040, seed 3, metrics in line. A change meant only for speed must print the same.
"""
import hashlib
import json
import sys

import simulator
from simulator import FabriqueModel

scale = float(sys.argv[1]) if len(sys.argv) > 1 else 0.05
end = int(sys.argv[2]) if len(sys.argv) > 2 else 2026
print("package:", simulator.__file__)
m = FabriqueModel("fabrique2040", scale=scale, seed=3, overlap_metrics=False, end_year=end)
m.run_model()
def h(rows):
    return hashlib.sha256(json.dumps(rows, default=lambda o: o.item() if hasattr(o, "item") else str(o),
                                     sort_keys=True).encode()).hexdigest()[:16]
print("metrics", h([list(r) for r in m.metric_rows]))
print("personas", h(m.persona_rows))
print("flows", h([list(r) for r in m.flow_rows]))
