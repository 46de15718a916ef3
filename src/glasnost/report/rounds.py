"""Reports on the rounds of a planning procedure: the imbalance per round as a plot, Parquet files.

Takes the :class:`~glasnost.procedures.History` objects the round engine keeps (one per year).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from glasnost.procedures import History

__all__ = ["imbalance_figure", "plot_imbalance", "write_rounds"]

THRESHOLDS = (0.05, 0.03)
"""Thresholds drawn as horizontal lines (the published 5% and 3%)."""


def imbalance_figure(histories: Sequence[History], *, title: str | None = None, by_kind: np.ndarray | None = None):
    """A matplotlib figure of the worst imbalance (percent, log scale) per round of each history.

    Years are drawn one after another along the round axis. ``by_kind`` (commodities,) of
    labels, optional, adds a faint line per label with the worst imbalance among its
    commodities.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.0, 4.2))
    offset = 0
    colours = ["#b3261e", "#3d5a80", "#2a9d8f", "#e9c46a", "#6d597a"]
    for k, history in enumerate(histories):
        if not history.rounds:
            continue
        rounds = np.arange(1, history.n_rounds + 1) + offset
        worst = 100.0 * history.max_imbalance
        colour = colours[k % len(colours)]
        ax.plot(rounds, np.maximum(worst, 1e-6), "o-", color=colour, label=history.label or f"run {k + 1}")
        if by_kind is not None:
            imbalance = 100.0 * history.stack("imbalance")
            for label in np.unique(by_kind):
                ax.plot(
                    rounds,
                    np.maximum(imbalance[:, by_kind == label].max(axis=1), 1e-6),
                    "-",
                    color=colour,
                    alpha=0.25,
                    linewidth=1,
                )
        offset += history.n_rounds
    for t in THRESHOLDS:
        ax.axhline(100 * t, color="#555", linestyle="--", linewidth=0.8)
        ax.annotate(
            f"{100 * t:g}%",
            (0.995, 100 * t),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize=8,
            color="#555",
        )
    ax.set_yscale("log")
    ax.set_xlabel("round")
    ax.set_ylabel("worst imbalance |2(S-D)|/(S+D), %")
    ax.set_title(title or "Imbalance per round")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_imbalance(histories: Sequence[History], path: str | Path, *, title: str | None = None) -> Path:
    """Write :func:`imbalance_figure` to ``path`` (PNG or any matplotlib format); returns the path."""
    import matplotlib.pyplot as plt

    fig = imbalance_figure(histories, title=title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_rounds(histories: Sequence[History], directory: str | Path, *, title: str | None = None) -> list[Path]:
    """Every year's rounds as Parquet (``year-N/rounds.parquet``, ``year-N/proposals.parquet``)
    and the imbalance plot ``imbalance.png`` in ``directory``; returns the paths written."""
    directory = Path(directory)
    paths: list[Path] = []
    for year, history in enumerate(histories, start=1):
        paths += history.to_parquet(directory / f"year-{year}")
    paths.append(plot_imbalance(histories, directory / "imbalance.png", title=title))
    return paths
