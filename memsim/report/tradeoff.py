"""Trade-off reports of a sweep: the table, the Pareto front of energy vs accuracy, and a chosen point.

:func:`choose` picks, per model, the lowest-energy operating point whose accuracy stays within
``max_accuracy_drop`` of the model's nominal point. ``conservative=True`` asks more: the
one-sided 95 % upper bound of the drop, ``(a_nom - a) + 1.645 sqrt(v_nom + v)`` with the
binomial variances of the two accuracies over their trials x images, must be within the
allowed drop, so noise cannot pick a point that only looks good. The nominal point itself
always qualifies, so with too few images or trials the conservative choice is the nominal
point (the report says so).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memsim.errors import ConfigError
from memsim.experiment.sweep import read_rows
from memsim.report.text import format_value, table

__all__ = ["Choice", "TradeoffReport", "choose", "pareto_front"]


def _num(row: Mapping[str, Any], key: str) -> float | None:
    value = row.get(key)
    if value is None or value == "":
        return None
    return float(value)


def _energy_key(rows: Sequence[Mapping[str, Any]]) -> str:
    """Total energy where the sweep has it, else the memory part, else the read energy."""
    for key in ("energy_pj_per_inference", "memory_energy_pj_per_inference", "read_energy_pj_per_inference"):
        if rows and all(_num(r, key) is not None for r in rows):
            return key
    raise ConfigError(
        "these rows have no energy (a sweep over bare BERs, or a profile without read energy): "
        "sweep a profile that publishes energy"
    )


def pareto_front(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows no other row beats in both energy (lower) and accuracy (higher), by rising energy."""
    key = _energy_key(rows)
    ordered = sorted(rows, key=lambda r: (_num(r, key), -float(r["accuracy"])))
    front: list[Mapping[str, Any]] = []
    best = -math.inf
    for row in ordered:
        acc = float(row["accuracy"])
        if acc > best:
            front.append(row)
            best = acc
    return front


@dataclass(frozen=True)
class Choice:
    """The chosen operating point of one model."""

    model: str
    nominal: Mapping[str, Any]
    chosen: Mapping[str, Any] | None
    max_accuracy_drop: float
    conservative: bool
    energy_key: str

    @property
    def saved(self) -> float | None:
        """Fraction of the nominal energy the chosen point saves (same energy measure)."""
        if self.chosen is None:
            return None
        e0, e1 = _num(self.nominal, self.energy_key), _num(self.chosen, self.energy_key)
        return None if not e0 or e1 is None else 1.0 - e1 / e0


def choose(
    rows: Sequence[Mapping[str, Any]], max_accuracy_drop: float = 0.01, conservative: bool = False
) -> list[Choice]:
    """Per model, the lowest-energy point whose accuracy is within ``max_accuracy_drop`` of its nominal point.

    Parameters
    ----------
    rows : sequence of mappings
        Sweep rows (:func:`memsim.experiment.sweep.read_rows`).
    max_accuracy_drop : float
        Allowed drop in accuracy (a fraction: 0.01 is one point).
    conservative : bool
        Require the point's lower 95 % bound, not its estimate, to be within the drop.

    Raises
    ------
    ConfigError
        For a drop outside [0, 1], rows without energy, or a model without its nominal point.
    """
    if not (isinstance(max_accuracy_drop, (int, float)) and 0.0 <= max_accuracy_drop <= 1.0):
        raise ConfigError(f"max_accuracy_drop must be in [0, 1], got {max_accuracy_drop!r}")
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        key = _energy_key(mine)
        nominal = [r for r in mine if str(r.get("nominal")).lower() == "true"]
        if not nominal:
            raise ConfigError(f"model {model!r}: the sweep has no row at the profile's nominal point to compare with")
        ok = [r for r in mine if r is nominal[0] or _within(nominal[0], r, max_accuracy_drop, conservative)]
        chosen = min(ok, key=lambda r: _num(r, key)) if ok else None  # type: ignore[arg-type,return-value]
        out.append(Choice(model, nominal[0], chosen, float(max_accuracy_drop), conservative, key))
    return out


def _within(nominal: Mapping[str, Any], row: Mapping[str, Any], drop: float, conservative: bool) -> bool:
    a0, a1 = float(nominal["accuracy"]), float(row["accuracy"])
    if not conservative:
        return a0 - a1 <= drop + 1e-12
    n0 = float(nominal["trials"]) * float(nominal["n_images"])
    n1 = float(row["trials"]) * float(row["n_images"])
    spread = 1.6448536 * math.sqrt(a0 * (1 - a0) / n0 + a1 * (1 - a1) / n1)  # one-sided 95 % normal bound
    return (a0 - a1) + spread <= drop + 1e-12


class TradeoffReport:
    """A sweep's rows with its trade-off table, Pareto fronts and chosen points.

    Parameters
    ----------
    rows : sequence of mappings
        Sweep rows.
    knobs : sequence of str
        The knob columns of the rows.
    """

    def __init__(self, rows: Sequence[Mapping[str, Any]], knobs: Sequence[str] = ()) -> None:
        if not rows:
            raise ConfigError("the sweep has no rows yet")
        self.rows = list(rows)
        self.knobs = list(knobs)

    @classmethod
    def from_dir(cls, directory: str | os.PathLike[str]) -> TradeoffReport:
        """Load ``DIR/sweep.csv``."""
        rows = read_rows(directory)
        header = list(rows[0]) if rows else []
        knobs = header[2 : header.index("ber")] if "ber" in header else []
        return cls(rows, knobs)

    def _point(self, row: Mapping[str, Any]) -> str:
        if self.knobs:
            return ", ".join(f"{k}={format_value(_num(row, k) if _is_number(row[k]) else row[k])}" for k in self.knobs)
        return f"ber={format_value(_num(row, 'ber'))}"

    def table_rows(self) -> tuple[list[str], list[list[Any]]]:
        """Headers and cells of the trade-off table (numbers, not strings)."""
        asymmetric = any(r.get("p01") != r.get("p10") for r in self.rows)
        rates = ["ber", "p01", "p10"] if asymmetric else ["ber"]
        headers = ["model", *self.knobs, *rates, "accuracy", "ci95", "energy_uj", "energy_saved", "memory_saved",
                   "latency_us", "pareto"]  # fmt: skip
        on_front: set[int] = set()
        try:
            for model in dict.fromkeys(r["model"] for r in self.rows):
                on_front |= {id(r) for r in pareto_front([r for r in self.rows if r["model"] == model])}
        except ConfigError:
            pass  # no energy: no front
        cells = []
        for r in self.rows:
            energy = _num(r, "energy_pj_per_inference")
            latency = _num(r, "latency_ns")
            cells.append(
                [
                    r["model"],
                    *(_num(r, k) if _is_number(r[k]) else r[k] for k in self.knobs),
                    *(_num(r, k) for k in rates),
                    _num(r, "accuracy"),
                    f"{float(r['ci95_low']):.4f}-{float(r['ci95_high']):.4f}",
                    None if energy is None else energy / 1e6,
                    _percent(_num(r, "energy_saved")),
                    _percent(_num(r, "memory_energy_saved")),
                    None if latency is None else latency / 1e3,
                    "*" if id(r) in on_front else "",
                ]
            )
        return headers, cells

    def choices(self, max_accuracy_drop: float = 0.01, conservative: bool = False) -> list[Choice]:
        """:func:`choose` on these rows."""
        return choose(self.rows, max_accuracy_drop, conservative)

    def summary(self, max_accuracy_drop: float = 0.01, conservative: bool = False) -> list[str]:
        """One sentence per model: the chosen point and what it saves, with intervals."""
        lines = []
        for c in self.choices(max_accuracy_drop, conservative):
            base = c.nominal
            if c.chosen is None:  # cannot happen: the nominal point always qualifies
                continue
            r = c.chosen
            if r is base:
                lines.append(
                    f"{c.model}: keep the nominal point: no lower-energy point is "
                    + ("shown (one-sided 95 %) to be" if conservative else "")
                    + f" within {_points(max_accuracy_drop)} of its accuracy {float(base['accuracy']):.4f}"
                    + (" (more trials or images narrow the bound)" if conservative else "")
                )
                continue
            left_out = str(r.get("energy_left_out") or "")
            what = "inference energy" if c.energy_key == "energy_pj_per_inference" else "memory energy"
            lines.append(
                f"{c.model}: run at {self._point(r)} (BER {format_value(_num(r, 'ber'))}): accuracy "
                f"{float(r['accuracy']):.4f} (95 % CI {float(r['ci95_low']):.4f}-{float(r['ci95_high']):.4f}) against "
                f"{float(base['accuracy']):.4f} ({float(base['ci95_low']):.4f}-{float(base['ci95_high']):.4f}) at "
                f"nominal; saves {_percent(c.saved)} of the {what}"
                + (f" (memory part {_percent(_num(r, 'memory_energy_saved'))})" if what == "inference energy" else "")
                + (f"; leaves out {left_out.replace(';', ', ')} (not published)" if left_out else "")
            )  # fmt: skip
        return lines

    def to_text(self, max_accuracy_drop: float = 0.01, conservative: bool = False) -> str:
        """The table (``*`` marks the Pareto front of energy vs accuracy) and the chosen points."""
        headers, cells = self.table_rows()
        rule = "conservative: one-sided 95 % bound of the drop" if conservative else "estimate"
        return "\n".join(
            [
                table(headers, cells),
                "",
                f"Chosen operating points (accuracy drop <= {_points(max_accuracy_drop)}, {rule}):",
                *self.summary(max_accuracy_drop, conservative),
            ]
        )

    def to_markdown(self, max_accuracy_drop: float = 0.01, conservative: bool = False) -> str:
        """The same as Markdown."""
        headers, cells = self.table_rows()
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(format_value(c) for c in row) + " |" for row in cells]
        rule = "one-sided 95 % bound of the drop" if conservative else "estimate"
        lines += ["", f"**Chosen operating points** (accuracy drop <= {_points(max_accuracy_drop)}, {rule}):", ""]
        lines += [f"- {s}" for s in self.summary(max_accuracy_drop, conservative)]
        lines += ["", "`*`: on the Pareto front of energy vs accuracy (per model). Intervals: 95 % Wilson over the "
                  "predictions of all trials and images."]  # fmt: skip
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        """The trade-off table as CSV."""
        headers, cells = self.table_rows()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows([["" if c is None else c for c in row] for row in cells])
        return buffer.getvalue()


def _points(drop: float) -> str:
    """An accuracy drop in percentage points, e.g. ``1 point``, ``0.5 points``."""
    value = 100 * drop
    return f"{value:g} point" + ("" if value == 1 else "s")


def _is_number(text: Any) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def _percent(value: float | None) -> str | None:
    return None if value is None else f"{100 * value:.1f} %"


def write_report(directory: str | os.PathLike[str], out: str | os.PathLike[str], **options: Any) -> Path:
    """Write the Markdown report of ``directory`` to ``out`` (atomically)."""
    from memsim.files import write_text_atomic

    path = Path(out)
    write_text_atomic(path, TradeoffReport.from_dir(directory).to_markdown(**options))
    return path
