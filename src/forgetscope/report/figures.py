"""Shared plotting helpers: a consistent look, figures embedded as base64 PNG."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
# Labels and titles hold data text (probe names, transform labels, run names): never read `$...$` in
# them as math (a `$\foo$` probe name would crash the report after all the compute was done).
matplotlib.rcParams["text.parse_math"] = False
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {
    "base": "#444444",
    "restored_base": "#8c8c8c",
    "checkpoint": "#1f77b4",
    "restored": "#2ca02c",
    "interp": "#9467bd",
    "pseudo": "#ffbf69",
    "actual": "#ff6b6b",
    "kept": "#9ecae1",
    "unknown_at_base": "#e0e0e0",
}


def new_figure(width: float = 7.0, height: float = 3.6, ncols: int = 1):
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    for ax in axes[0]:
        ax.grid(alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, axes[0]


def plain_log_ticks(fig) -> None:
    """Log and symlog axes label their ticks as plain numbers (600, not 6×10²): matplotlib writes those
    labels as math text, which `text.parse_math = False` (above) would print raw ($\\mathdefault{...}$)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    for ax in fig.axes:
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale in ("log", "symlog"):
                axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                axis.set_minor_formatter(NullFormatter())


def to_data_uri(fig) -> str:
    buf = io.BytesIO()
    plain_log_ticks(fig)
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def symlog_steps(ax, steps) -> None:
    """Steps on a log-like axis that can show step 0 (the base)."""
    ax.set_xscale("symlog", linthresh=max(1, min([s for s in steps if s > 0], default=1)))
    ax.set_xlabel("fine-tuning step")
