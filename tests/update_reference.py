"""Regenerate tests/reference_hash.json, the pinned fingerprint of a small reference run.

Only deliberately, when a change of the model is *meant* to change its
outputs (a new process, a recalibration, a bug fix), and say why::

    python3 -m tests.update_reference --reason "labour: recalibrated separation_rate (issue 12)"

then commit the new file with the same reason in the commit message.
``python3 -m tests.update_reference --check`` only compares (exit 1 on a
difference). The reference run is ``simulator.run("baseline", scale=0.003,
seed=7, end_year=2020)`` written by ``results.write_result``; it runs in a
fresh interpreter with one BLAS thread (the runner's WORKER_ENV), as a sweep
worker would, so the fingerprint does not depend on the calling process.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HASH_FILE = HERE / "reference_hash.json"
REFERENCE = {"scenario": "baseline", "scale": 0.003, "seed": 7, "end_year": 2020}
TABLES = ("metrics", "personas", "flows")

_CHILD = """
import json, sys
import simulator
from simulator.results import write_result
write_result(simulator.run(**json.loads(sys.argv[1])), sys.argv[2])
"""


def library_versions() -> dict[str, str]:
    import numpy
    import pandas
    import pyarrow
    import scipy
    return {"python": ".".join(map(str, sys.version_info[:3])), "numpy": numpy.__version__,
            "pandas": pandas.__version__, "pyarrow": pyarrow.__version__, "scipy": scipy.__version__}


def content_sha256(path: Path) -> str:
    """Hash of a table's content (column names, dtypes, values), independent of the Parquet writer."""
    import numpy as np
    import pandas as pd
    df = pd.read_parquet(path)
    h = hashlib.sha256()
    for col in df.columns:
        s = df[col]
        h.update(f"{col}:{s.dtype}\0".encode())
        if s.dtype.kind in "biuf":
            h.update(np.ascontiguousarray(s.to_numpy(dtype=np.float64 if s.dtype.kind == "f" else np.int64)).tobytes())
        else:
            h.update("\0".join(map(repr, s.tolist())).encode())
    return h.hexdigest()


def reference_run(out: Path) -> Path:
    """Run the reference in a fresh interpreter (one BLAS thread) and write it to ``out``."""
    from simulator.runner import WORKER_ENV
    env = {**os.environ, **WORKER_ENV}
    r = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(REFERENCE), str(out)], env=env,
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"reference run failed:\n{r.stderr}")
    return out


def fingerprint(folder: Path) -> dict:
    return {"metrics_parquet_sha256": hashlib.sha256((folder / "metrics.parquet").read_bytes()).hexdigest(),
            "content_sha256": {t: content_sha256(folder / f"{t}.parquet") for t in TABLES}}


def load_reference() -> dict:
    return json.loads(HASH_FILE.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reason", help="why the reference outputs changed (required to update)")
    ap.add_argument("--check", action="store_true", help="only compare with the pinned fingerprint")
    a = ap.parse_args(argv)
    if not a.check and not (a.reason and a.reason.strip()):
        ap.error("--reason is required: say why the outputs of the model changed")
    with tempfile.TemporaryDirectory() as tmp:
        fp = fingerprint(reference_run(Path(tmp) / "ref"))
    if a.check:
        old = load_reference() if HASH_FILE.exists() else {}
        same = {k: old.get(k) == v for k, v in fp.items()}
        print(json.dumps({"same": same, "new": fp}, indent=1))
        return 0 if all(same.values()) else 1
    from simulator import __version__
    from simulator.results import git_commit
    rec = {"reason": a.reason.strip(), "run": REFERENCE, **fp, "libraries": library_versions(),
           "package_version": __version__, "generated_at_commit": git_commit(),
           "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "how_to_update": "python3 -m tests.update_reference --reason '...' (and give the reason in the commit)"}
    HASH_FILE.write_text(json.dumps(rec, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {HASH_FILE}: metrics.parquet sha256 {fp['metrics_parquet_sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
