"""Plots. The only module of memsim that imports matplotlib, and only inside its functions.

Figures are built as :class:`matplotlib.figure.Figure` objects and saved through
their own Agg canvas, never through pyplot: the caller's backend (an interactive
Jupyter session, say) is never switched, and no global figure is left open.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from memsim.errors import ConfigError, format_problem

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from memsim.profile import Profile

__all__ = ["plot_profile"]

FORMATS = (".png", ".pdf", ".svg")
BER_FLOOR = 1e-15  # lower edge of the BER axis


def _save(fig: Figure, out: Path) -> None:
    """Save a figure through a temporary file and a rename, so no half-written file remains."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # the figure's own canvas: no pyplot, no global backend
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def plot_profile(profile: Profile, out: str | os.PathLike[str], knob: str | None = None, n: int = 200) -> Path:
    """Plot BER (log axis), energy per bit and (if published) read latency against each knob of a profile.

    One column of panels per knob (or only ``knob``); other knobs stay nominal.
    Measured or tabulated points are drawn as markers over the interpolated curve;
    BER below 1e-15 (including "no errors measured") is left out of the log axis.

    Parameters
    ----------
    profile : Profile
        The profile to plot.
    out : path
        Output file, ``.png``, ``.pdf`` or ``.svg``.
    knob : str, optional
        Plot only this knob.
    n : int, default 200
        Number of points on each interpolated curve.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ConfigError(
            format_problem(str(out), None, f"unsupported plot format {out.suffix!r}; use one of {', '.join(FORMATS)}")
        )
    if not out.parent.is_dir():
        raise ConfigError(format_problem(str(out), None, f"directory {str(out.parent)!r} does not exist"))
    knobs = [knob] if knob is not None else list(profile.knobs)
    for name in knobs:
        profile.knob_values(name)  # raises a clear error for an unknown knob

    from matplotlib.figure import Figure

    has_latency = profile.at().read_latency_ns is not None
    rows = 3 if has_latency else 2
    fig = Figure(figsize=(4.2 * len(knobs), 3.0 * rows))
    axes = fig.subplots(rows, len(knobs), squeeze=False, sharex="col")
    for col, name in enumerate(knobs):
        spec = profile.knobs[name]
        ax_ber, ax_e = axes[0, col], axes[1, col]
        if spec.is_categorical:
            cats = profile.knob_values(name)
            ops = [profile.at_knobs({name: c}) for c in cats]
            pos = np.arange(len(cats))
            ax_ber.bar(pos, [max(op.ber, 1e-300) for op in ops], color="C0")
            ax_e.bar(pos - 0.2, [op.read_energy_pj_per_bit or 0.0 for op in ops], width=0.4, label="read")
            ax_e.bar(pos + 0.2, [op.write_energy_pj_per_bit or 0.0 for op in ops], width=0.4, label="write")
            ax_e.set_xticks(pos, cats, rotation=20)
        else:
            xs = profile.knob_values(name, n)
            ops = [profile.at_knobs({name: x}) for x in xs]
            ber = np.array([op.ber for op in ops])
            # BER below the floor (or 0: no errors measured) is not drawn: it would stretch the log axis to 1e-60.
            ax_ber.plot(xs, np.where(ber >= BER_FLOOR, ber, np.nan), color="C0", label="interpolated")
            marks = profile.knob_values(name)
            mark_ops = [profile.at_knobs({name: x}) for x in marks]
            mb = np.array([op.ber for op in mark_ops])
            ax_ber.plot(marks, np.where(mb >= BER_FLOOR, mb, np.nan), "o", color="C0", ms=4, label="data points")
            ax_ber.set_ylim(bottom=BER_FLOOR)
            if has_latency:
                ax_l = axes[2, col]
                ax_l.plot(xs, [op.read_latency_ns for op in ops], color="C2")
                ax_l.set_ylabel("read latency [ns]")
                ax_l.grid(True, alpha=0.3)
                ax_l.set_xlabel(f"{name} [{spec.unit}]")
            for label, attr in (("read", "read_energy_pj_per_bit"), ("write", "write_energy_pj_per_bit")):
                vals = [getattr(op, attr) for op in ops]
                if all(v is not None for v in vals):
                    ax_e.plot(xs, vals, label=label)
            if not has_latency:
                ax_e.set_xlabel(f"{name} [{spec.unit}]")
        ax_ber.set_yscale("log")
        ax_ber.set_ylabel("bit error rate")
        ax_ber.set_title(name)
        ax_ber.grid(True, which="both", alpha=0.3)
        ax_e.set_ylabel("energy per bit [pJ]")
        ax_e.grid(True, alpha=0.3)
        handles, _ = ax_e.get_legend_handles_labels()
        if handles:
            ax_e.legend(fontsize=8)
        else:
            ax_e.text(0.5, 0.5, "energy not published", ha="center", va="center", transform=ax_e.transAxes)
    fig.suptitle(f"{profile.name} ({profile.technology})", fontsize=10)
    fig.tight_layout()
    _save(fig, out)
    return out
