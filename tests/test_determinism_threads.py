"""Same seed, different BLAS thread counts: byte-identical metrics.parquet.

The raking of household weights uses dense products whose summation order
depends on the number of BLAS threads; the model pins BLAS to one thread
(threadpoolctl) so a run does not depend on the machine it runs on.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from pathlib import Path
from simulator.results import run
res = run("fabrique2040", scale=0.005, seed=3, end_year=2019)
out = Path(sys.argv[1])
res.metrics.to_parquet(out / "metrics.parquet", index=False)
res.personas.to_parquet(out / "personas.parquet", index=False)
"""


def _run(tmp: Path, threads: int) -> dict[str, str]:
    out = tmp / f"threads{threads}"
    out.mkdir()
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return {f: hashlib.sha256((out / f).read_bytes()).hexdigest() for f in ("metrics.parquet", "personas.parquet")}


def test_blas_thread_count_does_not_change_results(tmp_path):
    assert _run(tmp_path, 1) == _run(tmp_path, 2)
