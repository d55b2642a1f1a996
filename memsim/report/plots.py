"""Plots. The only module of memsim that imports matplotlib, and only inside its functions.

Figures are built as :class:`matplotlib.figure.Figure` objects and saved through
their own Agg canvas, never through pyplot: the caller's backend (an interactive
Jupyter session, say) is never switched, and no global figure is left open.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memsim.errors import ConfigError, format_problem
from memsim.fileio import write_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from memsim.profile import Profile

__all__ = [
    "plot_accuracy_over_ber",
    "plot_energy_vs_accuracy",
    "plot_latency_vs_accuracy",
    "plot_profile",
    "profile_figure",
]

FORMATS = (".png", ".pdf", ".svg")
BER_FLOOR = 1e-15  # lower edge of the BER axis


def _save(fig: Figure, out: Path) -> None:
    """Save a figure through a temporary file and a rename, so no half-written file remains."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # the figure's own canvas: no pyplot, no global backend
    write_atomic(out, lambda tmp: fig.savefig(tmp, dpi=150, bbox_inches="tight"))


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
    path = _check_out(out)
    _save(profile_figure(profile, knob, n), path)
    return path


def profile_figure(profile: Profile, knob: str | None = None, n: int = 200) -> Figure:
    """The figure of :func:`plot_profile`, unsaved (for notebooks and tests)."""
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
            shown = np.where(ber >= BER_FLOOR, ber, np.nan)
            model_only = np.array([bool(op.uncalibrated) for op in ops])
            data_curve = np.where(~model_only, shown, np.nan)
            ax_ber.plot(xs, data_curve, color="C0", label="interpolated data")
            if model_only.any():  # a curve no measurement backs is drawn differently (e.g. reduced tRCD)
                ax_ber.plot(xs, np.where(model_only, shown, np.nan), "--", color="C3", label="uncalibrated model")
            marks = profile.knob_values(name)
            mark_ops = [profile.at_knobs({name: x}) for x in marks]
            mb = np.array([op.ber for op in mark_ops])
            measured = np.array([not op.uncalibrated for op in mark_ops])
            ax_ber.plot(
                np.array(marks)[measured],
                np.where(mb >= BER_FLOOR, mb, np.nan)[measured],
                "o",
                color="C0",
                ms=4,
                label="data points",
            )
            none = (mb < BER_FLOOR) & measured
            if none.any():  # no errors measured: drawn at the floor, open, not left out
                ax_ber.plot(
                    np.array(marks)[none],
                    np.full(int(none.sum()), BER_FLOOR * 3),
                    "o",
                    mfc="none",
                    color="C0",
                    ms=4,
                    label="no errors measured",
                )
            # a grid's other axes: one more curve per measured value of each (e.g. retention at 20 and 70 C)
            for mech in profile.mechanisms:
                for other in (k for k in mech.grid_knobs if name in mech.grid_knobs and k != name):
                    for j, value in enumerate(mech.grid_axes[mech.grid_knobs.index(other)]):
                        if value == profile.knobs[other].nominal:
                            continue
                        extra = np.array([profile.at_knobs({name: x, other: value}).ber for x in xs])
                        ax_ber.plot(xs, np.where(extra >= BER_FLOOR, extra, np.nan), ":", color=f"C{4 + j % 5}",
                                    label=f"at {other}={value:g}")  # fmt: skip
                        shown = np.fmax(shown, np.where(extra >= BER_FLOOR, extra, np.nan))
            top = np.nanmax(shown) if np.isfinite(shown).any() else 1.0
            ax_ber.set_ylim(bottom=BER_FLOOR, top=min(1.0, top * 5))  # headroom: the top point is not clipped
            ax_ber.set_xlim(float(min(xs)), float(max(xs)))  # the whole knob range, also where BER is 0
            ax_ber.legend(fontsize=7)
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
            twin = [
                (label, [getattr(op, attr) for op in ops])
                for label, attr in (("refresh power [mW]", "refresh_mw"), ("power / nominal", "power_ratio"))
            ]
            twin = [(label, v) for label, v in twin if all(x is not None for x in v) and len(set(v)) > 1]
            if twin:  # a power, not an energy per bit: on its own axis
                ax_p = ax_e.twinx()
                for i, (label, vals) in enumerate(twin):
                    ax_p.plot(xs, vals, "--", color=f"C{3 + i}", label=label)
                ax_p.set_ylabel(", ".join(label for label, _ in twin))
                ax_p.legend(fontsize=7, loc="upper center")
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
            ax_e.text(0.5, 0.9, "energy per bit not published", ha="center", va="center", transform=ax_e.transAxes)
    fig.suptitle(f"{profile.name} ({profile.technology})", fontsize=10)
    fig.tight_layout()
    return fig


def _check_out(out: str | os.PathLike[str]) -> Path:
    path = Path(out)
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(
            format_problem(str(path), None, f"unsupported plot format {path.suffix!r}; use one of {', '.join(FORMATS)}")
        )
    if not path.parent.is_dir():
        raise ConfigError(format_problem(str(path), None, f"directory {str(path.parent)!r} does not exist"))
    return path


def _f(row: Mapping[str, Any], key: str) -> float:
    from memsim.report.tradeoff import _num

    value = _num(row, key)
    return math.nan if value is None else value


def _by_model(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        out.setdefault(str(row["model"]), []).append(row)
    return out


def plot_accuracy_over_ber(rows: Sequence[Mapping[str, Any]], out: str | os.PathLike[str]) -> Path:
    """Accuracy over bit error rate per model, with 95 % interval bands (the reference papers' figure).

    The BER axis is logarithmic where the sweep has BERs spanning more than a decade (a voltage
    sweep), linear otherwise (a BER sweep from 0); a BER of 0 sits at the left edge of a log axis.
    """
    path = _check_out(out)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.subplots()
    bers = [_f(r, "ber") for r in rows]
    positive = [b for b in bers if b > 0]
    log = (bool(positive) and max(positive) / min(positive) > 10 and min(bers) > 0) or (
        bool(positive) and max(positive) / min(positive) > 100
    )
    floor = min(positive) / 3 if positive else 0.0
    for i, (model, mine) in enumerate(_by_model(rows).items()):
        mine = sorted(mine, key=lambda r: _f(r, "ber"))
        x = [max(_f(r, "ber"), floor) if log else _f(r, "ber") for r in mine]
        ax.plot(x, [_f(r, "accuracy") for r in mine], "o-", color=f"C{i}", ms=3, label=model)
        ax.fill_between(
            x, [_f(r, "ci95_low") for r in mine], [_f(r, "ci95_high") for r in mine], color=f"C{i}", alpha=0.2
        )
    if log:
        ax.set_xscale("log")
        ax.set_xlabel("bit error rate (BER 0 drawn at the left edge)")
    else:
        ax.set_xlabel("bit error rate")
    ax.set_ylabel("accuracy (95 % interval)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    return path


def plot_energy_vs_accuracy(
    rows: Sequence[Mapping[str, Any]],
    out: str | os.PathLike[str],
    max_accuracy_drop: float = 0.01,
    conservative: bool = False,
    min_yield: float | None = None,
    energy: str | None = None,
    log_energy: bool | None = None,
) -> Path:
    """Energy per inference against accuracy per model, with the Pareto front and the chosen point marked.

    Parameters
    ----------
    rows, out
        Sweep rows and the image file to write.
    max_accuracy_drop, conservative, min_yield
        The rule for the starred point (:func:`memsim.report.tradeoff.choose`; it chooses on total energy).
    energy
        The x axis: ``"total"``, ``"memory"`` or ``"read"`` energy per inference [uJ], or ``"relative"`` (the
        memory energy over its nominal, for profiles that publish only a power ratio); default the total where
        the rows have it, else the memory part, else the read energy, else the relative one.
    log_energy
        A logarithmic x axis; default where the energies span more than a factor of 10 (models of different
        precision on one plot).
    """
    from memsim.report.tradeoff import _energy_key, choose, pareto_front

    path = _check_out(out)
    from matplotlib.figure import Figure

    from memsim.report.tradeoff import RELATIVE_ENERGY

    columns = {
        "total": "energy_pj_per_inference",
        "memory": "memory_energy_pj_per_inference",
        "read": "read_energy_pj_per_inference",
        "relative": RELATIVE_ENERGY,
    }
    if energy is not None and energy not in columns:
        raise ConfigError(f"energy={energy!r}: choose one of {', '.join(columns)}")
    key = _energy_key(rows) if energy is None else columns[energy]
    assert key is not None  # required: raises without energy
    if any(math.isnan(_f(r, key)) for r in rows):
        raise ConfigError(f"these rows have no {energy} energy ({key}): sweep a profile that publishes it")
    labels = {
        "energy_pj_per_inference": "energy per inference [uJ]",
        "memory_energy_pj_per_inference": "memory energy per inference [uJ]",
    }
    label = labels.get(key, "read energy per inference [uJ]")
    scale = 1e6  # pJ -> uJ
    if key == RELATIVE_ENERGY:  # a measured power ratio only: the memory energy relative to the nominal point
        label, scale = "memory energy / nominal (measured power ratio)", 1.0
    values = [_f(r, key) for r in rows if _f(r, key) > 0]
    if log_energy is None:
        log_energy = bool(values) and max(values) / min(values) > 10
    chosen = {c.model: c.chosen for c in choose(rows, max_accuracy_drop, conservative, min_yield)}
    groups = _by_model(rows)
    many = len(groups) > 6
    fig = Figure(figsize=(7.6 if many else 6.0, 4.0))
    ax = fig.subplots()
    colors = _colors(len(groups))
    for i, (model, mine) in enumerate(groups.items()):
        acc = [_f(r, "accuracy") for r in mine]
        err = [
            [a - _f(r, "ci95_low") for r, a in zip(mine, acc, strict=True)],
            [_f(r, "ci95_high") - a for r, a in zip(mine, acc, strict=True)],
        ]
        ax.errorbar(
            [_f(r, key) / scale for r in mine], acc, yerr=err, fmt="o", color=colors[i], ms=3, alpha=0.6, label=model
        )
        front = pareto_front(mine, key)
        ax.plot([_f(r, key) / scale for r in front], [_f(r, "accuracy") for r in front], "-", color=colors[i])
        pick = chosen.get(model)
        if pick is not None:
            ax.plot([_f(pick, key) / scale], [_f(pick, "accuracy")], "*", color=colors[i], ms=14, mec="black")
    ax.set_xlabel(label)
    if log_energy:
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("accuracy (95 % interval)")
    drop = f"{100 * max_accuracy_drop:g} point" + ("" if 100 * max_accuracy_drop == 1 else "s")
    ax.set_title(f"lines: Pareto fronts; stars: lowest energy within {drop}", fontsize=9)
    ax.grid(True, alpha=0.3)
    if many:  # beside the axes: inside, a long legend hides the points
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    else:
        ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    return path


def _colors(n: int) -> list[Any]:
    """n distinguishable colours: matplotlib's ten, then tab20's twenty (no colour repeats up to 20 models)."""
    if n <= 10:
        return [f"C{i}" for i in range(n)]
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    return [cmap(i % 20) for i in range(n)]


def plot_latency_vs_accuracy(rows: Sequence[Mapping[str, Any]], out: str | os.PathLike[str]) -> Path:
    """Latency per inference against accuracy per model (the DRAM timing knob's trade-off)."""
    path = _check_out(out)
    if not rows or all(math.isnan(_f(r, "latency_ns")) for r in rows):
        raise ConfigError(
            "these rows have no latency: sweep a profile that publishes a read latency, or give --access-ns"
        )
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.subplots()
    for i, (model, mine) in enumerate(_by_model(rows).items()):
        mine = sorted(mine, key=lambda r: _f(r, "latency_ns"))
        acc = [_f(r, "accuracy") for r in mine]
        err = [
            [a - _f(r, "ci95_low") for r, a in zip(mine, acc, strict=True)],
            [_f(r, "ci95_high") - a for r, a in zip(mine, acc, strict=True)],
        ]
        ax.errorbar(
            [_f(r, "latency_ns") / 1e3 for r in mine], acc, yerr=err, fmt="o-", color=f"C{i}", ms=3, label=model
        )
    ax.set_xlabel("latency per inference [us]")
    ax.set_ylabel("accuracy (95 % interval)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    return path


def plot_yield(rows: Sequence[Mapping[str, Any]], out: str | os.PathLike[str], max_accuracy_drop: float = 0.01) -> Path:
    """Yield (fraction of chips within ``max_accuracy_drop`` of their nominal accuracy) against the sweep's knob.

    One line per model with its 95 % Clopper-Pearson band over chips; rows without drawn chips
    (no stuck cells) are left out, and a sweep with none is an error.
    """
    from memsim.report.tradeoff import TradeoffReport, knob_columns

    path = _check_out(out)
    report = TradeoffReport(rows, knob_columns(rows))
    points = [(r, y) for r, y in report.yields(max_accuracy_drop) if y is not None]
    if not points:
        raise ConfigError(
            "these rows have no chips to take a yield over: sweep stuck cells (--fault-model persistent or mixed, "
            "or a profile with stuck cells) with --trials of 2 or more"
        )
    knob = report.knobs[0] if report.knobs else "ber"
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.subplots()
    for i, model in enumerate(dict.fromkeys(str(r["model"]) for r, _ in points)):
        mine = sorted(((_f(r, knob), y) for r, y in points if r["model"] == model), key=lambda t: t[0])
        x = [v for v, _ in mine]
        ax.plot(
            x, [y.estimate for _, y in mine], "o-", color=f"C{i}", ms=3, label=f"{model} ({mine[0][1].chips} chips)"
        )
        ax.fill_between(x, [y.low for _, y in mine], [y.high for _, y in mine], color=f"C{i}", alpha=0.2)
    ax.set_xlabel(knob)
    ax.set_ylabel(f"yield: chips within {100 * max_accuracy_drop:g} point(s)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("band: 95 % Clopper-Pearson over chips", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    return path
