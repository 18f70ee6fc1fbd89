"""DET plots (false-non-match vs false-match rate, log axes), rendered off-screen with matplotlib's Agg
canvas: no pyplot global state, so it is safe in servers and threads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from glasshouse.evaluation.metrics import DetCurve
from glasshouse.evaluation.protocol import OperatingPoint

_FLOOR = 1e-5  # zero rates are drawn at this floor on log axes


def write_det_plot(
    curves: Mapping[str, DetCurve],
    path: Path,
    *,
    title: str,
    points: Sequence[OperatingPoint] = (),
) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 5.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for label, c in curves.items():
        ax.plot(np.maximum(c.fmr, _FLOOR), np.maximum(c.fnmr, _FLOOR), label=label, linewidth=1.4)
    for p in points:
        ax.plot(
            max(p.fmr, _FLOOR),
            max(p.fnmr, _FLOOR),
            marker="o",
            linestyle="none",
            label=f"similarity {p.similarity:g}",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(_FLOOR, 1.0)
    ax.set_ylim(_FLOOR, 1.0)
    ax.set_xlabel("false-match rate")
    ax.set_ylabel("false-non-match rate")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(path), format="png")
    return path
