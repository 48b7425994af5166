"""Static export of the report's charts: one PNG and one SVG per chart.

Needs kaleido (``pip install kaleido``) and a Chromium browser; the system
``/usr/bin/chromium`` is used when present (``BROWSER_PATH`` overrides it).
kaleido renders with the plotly.js bundled in the plotly package: no network.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

from ..params import ParameterError

MESSAGE = "static export needs kaleido and Chromium: pip install kaleido; apt-get install chromium"
SYSTEM_BROWSERS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def browser_path() -> str | None:
    env = os.environ.get("BROWSER_PATH")
    if env and Path(env).exists():
        return env
    for p in SYSTEM_BROWSERS:
        if Path(p).exists():
            return p
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        w = shutil.which(name)
        if w:
            return w
    return None


def check_export() -> str:
    """Raise ParameterError unless kaleido and a Chromium are available; return the browser path."""
    try:
        import kaleido  # noqa: F401
    except ImportError as exc:
        raise ParameterError(f"{MESSAGE} (kaleido is not installed)") from exc
    path = browser_path()
    if path is None:
        raise ParameterError(f"{MESSAGE} (no Chromium found: /usr/bin/chromium missing, BROWSER_PATH unset)")
    os.environ.setdefault("BROWSER_PATH", path)
    return path


def export_figures(figs: dict[str, go.Figure] | list[tuple[str, go.Figure]], figures_dir: Path,
                   formats: tuple[str, ...] = ("png", "svg"), width: int = 1400, scale: float = 2.0) -> list[Path]:
    """Write ``<name>.png`` and ``<name>.svg`` for every figure into ``figures_dir``; return the paths."""
    check_export()
    items = list(figs.items()) if isinstance(figs, dict) else list(figs)
    out_dir = Path(figures_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    batch_figs, batch_paths, batch_fmt = [], [], []
    for name, fig in items:
        for fmt in formats:
            p = out_dir / f"{name}.{fmt}"
            batch_figs.append(fig)
            batch_paths.append(p)
            batch_fmt.append(fmt)
            paths.append(p)
    try:
        if hasattr(pio, "write_images"):
            pio.write_images(batch_figs, batch_paths, format=batch_fmt, width=width,
                             height=[int(f.layout.height or 500) for f in batch_figs],
                             scale=[scale if f == "png" else 1.0 for f in batch_fmt])
        else:  # older plotly
            for fig, p, fmt in zip(batch_figs, batch_paths, batch_fmt):
                fig.write_image(p, format=fmt, width=width, height=int(fig.layout.height or 500),
                                scale=scale if fmt == "png" else 1.0)
    except ParameterError:
        raise
    except Exception as exc:  # kaleido/choreographer errors: browser missing or failing to start
        raise ParameterError(f"{MESSAGE} (export failed: {type(exc).__name__}: {exc})") from exc
    return paths
