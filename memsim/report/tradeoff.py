"""Trade-off reports of a sweep: the table, the Pareto front of energy vs accuracy, and a chosen point.

:func:`choose` picks, per model, the lowest-energy operating point whose accuracy stays within
``max_accuracy_drop`` of the model's nominal point. ``conservative=True`` asks more: the
one-sided 95 % upper bound of the drop must be within the allowed drop, so noise cannot pick
a point that only looks good. The bound is over each row's own unit of randomness
(:func:`memsim.experiment.stats.drop_upper_bound`): the standard errors of the two rows
(images, chips or batches, ``ci_method``), or, where the rows ran on the same chips with stuck
cells, the per-chip drops (paired: the chip-to-chip part they share cancels). The nominal
point itself always qualifies, so with too few images or chips the conservative choice is
the nominal point (the report says so).

**Yield** (:func:`chip_yield`): for sweeps with stuck cells (``ci_method`` ``t-chips``), the
fraction of chips whose accuracy stays within the allowed drop of the same chip's accuracy at
the nominal point, with a Clopper-Pearson interval over chips; ``choose(min_yield=Y)`` takes
the lowest-energy point whose one-sided 95 % lower bound of the yield is at least ``Y``.
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
from memsim.experiment.stats import (
    CI_METHODS,
    clopper_pearson,
    drop_upper_bound,
    row_df,
    row_se,
    yield_lower_bound,
)
from memsim.experiment.sweep import read_rows
from memsim.report.text import format_value, table

__all__ = ["Choice", "TradeoffReport", "Yield", "chip_yield", "choose", "pareto_front"]

#: Confidence of the conservative drop bound and of the yield's lower bound.
CONFIDENCE = 0.95


#: Pseudo-column: the memory energy relative to the nominal point, ``1 - memory_energy_saved``, for profiles that
#: publish only a measured power ratio (no absolute energies): choices and Pareto fronts still rank by energy.
RELATIVE_ENERGY = "relative_memory_energy"


def _num(row: Mapping[str, Any], key: str) -> float | None:
    if key == RELATIVE_ENERGY:
        saved = _num(row, "memory_energy_saved")
        return None if saved is None else 1.0 - saved
    value = row.get(key)
    if value is None or value == "":
        return None
    return float(value)


def _energy_key(rows: Sequence[Mapping[str, Any]], required: bool = True) -> str | None:
    """Total energy where the sweep has it, else the memory part, else the read energy, else the memory energy
    relative to nominal (:data:`RELATIVE_ENERGY`; None if none and not ``required``)."""
    keys = (
        "energy_pj_per_inference",
        "memory_energy_pj_per_inference",
        "read_energy_pj_per_inference",
        RELATIVE_ENERGY,
    )
    for key in keys:
        if rows and all(_num(r, key) is not None for r in rows):
            return key
    if not required:
        return None
    raise ConfigError(
        "these rows have no energy (a sweep over bare BERs, or a profile without read energy): "
        "sweep a profile that publishes energy"
    )


def pareto_front(rows: Sequence[Mapping[str, Any]], key: str | None = None) -> list[Mapping[str, Any]]:
    """The rows no other row beats in both energy (lower) and accuracy (higher), by rising energy.

    ``key`` is the energy column (default: total energy where the rows have it, else the memory part, else the
    read energy).
    """
    key = key or _energy_key(rows)
    assert key is not None
    ordered = sorted(rows, key=lambda r: (_num(r, key), -float(r["accuracy"])))
    front: list[Mapping[str, Any]] = []
    best = -math.inf
    for row in ordered:
        acc = float(row["accuracy"])
        if acc > best:
            front.append(row)
            best = acc
    return front


def _trial_accuracies(row: Mapping[str, Any]) -> list[float]:
    text = str(row.get("trial_accuracies") or "")
    return [float(a) for a in text.split(";") if a != ""]


def _same_chips(nominal: Mapping[str, Any], row: Mapping[str, Any]) -> bool:
    seeds = str(row.get("chip_seeds") or "")
    return bool(seeds) and seeds == str(nominal.get("chip_seeds") or "")


def _has_chips(row: Mapping[str, Any]) -> bool:
    return str(row.get("ci_method")) == "t-chips"


def paired_drops(nominal: Mapping[str, Any], row: Mapping[str, Any]) -> list[float] | None:
    """Per-chip accuracy drops ``a_nom,t - a_t`` where both rows ran on the same chips with stuck cells, else None."""
    if not (_has_chips(row) or _has_chips(nominal)) or not _same_chips(nominal, row):
        return None
    a0, a1 = _trial_accuracies(nominal), _trial_accuracies(row)
    if len(a0) != len(a1) or len(a1) < 2:
        return None
    return [x - y for x, y in zip(a0, a1, strict=True)]


@dataclass(frozen=True)
class Yield:
    """Chips of a row whose accuracy stays within the allowed drop of their own nominal accuracy.

    Attributes
    ----------
    good, chips : int
        Qualifying chips and chips.
    low, high : float
        Two-sided 95 % Clopper-Pearson interval of the yield.
    lower_bound : float
        One-sided 95 % Clopper-Pearson lower bound (what :func:`choose` tests ``min_yield`` against).
    """

    good: int
    chips: int
    low: float
    high: float
    lower_bound: float

    @property
    def estimate(self) -> float:
        """Fraction of chips that qualify."""
        return self.good / self.chips


def chip_yield(nominal: Mapping[str, Any], row: Mapping[str, Any], max_accuracy_drop: float) -> Yield | None:
    """The yield of ``row`` against the model's ``nominal`` row, or None for rows without drawn chips.

    A chip qualifies if its accuracy is at least its own accuracy at the nominal point minus
    ``max_accuracy_drop`` (the nominal row's mean where the rows ran on other chips).
    """
    if not _has_chips(row):
        return None
    accs = _trial_accuracies(row)
    if not accs:
        return None
    base = _trial_accuracies(nominal)
    if not (_same_chips(nominal, row) and len(base) == len(accs)):
        base = [float(nominal["accuracy"])] * len(accs)
    good = sum(a >= b - max_accuracy_drop - 1e-12 for a, b in zip(accs, base, strict=True))
    low, high = clopper_pearson(good, len(accs), CONFIDENCE)
    return Yield(good, len(accs), low, high, yield_lower_bound(good, len(accs), CONFIDENCE))


@dataclass(frozen=True)
class Choice:
    """The chosen operating point of one model."""

    model: str
    nominal: Mapping[str, Any]
    chosen: Mapping[str, Any] | None
    max_accuracy_drop: float
    conservative: bool
    energy_key: str | None
    min_yield: float | None = None
    #: What ``nominal`` is: ``nominal`` (the profile's nominal point) or ``lowest BER`` (no nominal row in the
    #: sweep: the point with the lowest BER present stands in for it).
    reference: str = "nominal"

    @property
    def saved(self) -> float | None:
        """Fraction of the nominal energy the chosen point saves (same energy measure; None without energy).

        On a partitioned memory (rows with a ``partition``) the nominal is the plain memory at the nominal
        point, without regions or codes (the rows' ``energy_saved``): what the protection costs is counted.
        """
        if self.chosen is None or self.energy_key is None:
            return None
        column = {"energy_pj_per_inference": "energy_saved", "memory_energy_pj_per_inference": "memory_energy_saved"}
        if self.chosen.get("partition") and self.energy_key in column:
            return _num(self.chosen, column[self.energy_key])
        e0, e1 = _num(self.nominal, self.energy_key), _num(self.chosen, self.energy_key)
        return None if not e0 or e1 is None else 1.0 - e1 / e0


def choose(
    rows: Sequence[Mapping[str, Any]],
    max_accuracy_drop: float = 0.01,
    conservative: bool = False,
    min_yield: float | None = None,
) -> list[Choice]:
    """Per model, the lowest-energy point whose accuracy is within ``max_accuracy_drop`` of its nominal point.

    Rows without energy (a sweep over bare BERs) choose the highest BER within the drop; a
    sweep without its nominal point compares with the point of lowest BER it has
    (``Choice.reference`` says which).

    Parameters
    ----------
    rows : sequence of mappings
        Sweep rows (:func:`memsim.experiment.sweep.read_rows`).
    max_accuracy_drop : float
        Allowed drop in accuracy (a fraction: 0.01 is one point).
    conservative : bool
        Require the one-sided 95 % upper bound of the drop, not its estimate, to be within it.
    min_yield : float, optional
        Instead of the mean accuracy: require that at least this fraction of chips stays within
        the drop, at 95 % confidence (the one-sided Clopper-Pearson lower bound of the
        yield, :func:`chip_yield`). Needs rows with drawn stuck cells (``ci_method`` ``t-chips``).

    Raises
    ------
    ConfigError
        For a drop or yield outside [0, 1], or ``min_yield`` on rows without chips.
    """
    if not (isinstance(max_accuracy_drop, (int, float)) and 0.0 <= max_accuracy_drop <= 1.0):
        raise ConfigError(f"max_accuracy_drop must be in [0, 1], got {max_accuracy_drop!r}")
    if min_yield is not None and not (isinstance(min_yield, (int, float)) and 0.0 <= min_yield <= 1.0):
        raise ConfigError(f"min_yield must be in [0, 1] (a fraction of chips), got {min_yield!r}")
    out = []
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        key = _energy_key(mine, required=False)
        nominal = [r for r in mine if str(r.get("nominal")).lower() == "true"]
        reference = "nominal"
        if not nominal:
            reference = "lowest BER"
            nominal = [min(mine, key=lambda r: (_num(r, "ber") or 0.0, -(_num(r, key) or 0.0) if key else 0.0))]
        if min_yield is not None:
            if not any(_has_chips(r) for r in mine):
                raise ConfigError(
                    f"model {model!r}: yield is over chips, and these rows have none (ci_method "
                    f"{', '.join(sorted({str(r.get('ci_method')) for r in mine}))}); sweep stuck cells "
                    "(--fault-model persistent or mixed) with --trials of 2 or more (20+ for a useful yield)"
                )
            ok = [r for r in mine if r is nominal[0] or _yield_ok(nominal[0], r, max_accuracy_drop, min_yield)]
        else:
            ok = [r for r in mine if r is nominal[0] or _within(nominal[0], r, max_accuracy_drop, conservative)]
        if key is not None:
            chosen = min(ok, key=lambda r: _num(r, key)) if ok else None  # type: ignore[arg-type,return-value]
        else:  # no energy: the most error-tolerant point, the highest BER within the drop
            chosen = max(ok, key=lambda r: _num(r, "ber") or 0.0) if ok else None
        out.append(Choice(model, nominal[0], chosen, float(max_accuracy_drop), conservative, key, min_yield, reference))
    return out


def _yield_ok(nominal: Mapping[str, Any], row: Mapping[str, Any], drop: float, min_yield: float) -> bool:
    y = chip_yield(nominal, row, drop)
    return y is not None and y.lower_bound >= min_yield - 1e-12


def drop_bound(nominal: Mapping[str, Any], row: Mapping[str, Any]) -> float:
    """One-sided 95 % upper bound of ``row``'s accuracy drop from ``nominal`` (NaN if a row has no interval)."""
    a0, a1 = float(nominal["accuracy"]), float(row["accuracy"])
    if row is nominal:
        return 0.0
    return drop_upper_bound(
        a0, row_se(nominal), row_df(nominal), a1, row_se(row), row_df(row), CONFIDENCE, paired_drops(nominal, row)
    )


def _within(nominal: Mapping[str, Any], row: Mapping[str, Any], drop: float, conservative: bool) -> bool:
    a0, a1 = float(nominal["accuracy"]), float(row["accuracy"])
    if not conservative:
        return a0 - a1 <= drop + 1e-12
    bound = drop_bound(nominal, row)
    return math.isfinite(bound) and bound <= drop + 1e-12


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
        return cls(rows, knob_columns(rows))

    def _point(self, row: Mapping[str, Any]) -> str:
        if self.knobs:
            return ", ".join(f"{k}={format_value(_num(row, k) if _is_number(row[k]) else row[k])}" for k in self.knobs)
        return f"ber={format_value(_num(row, 'ber'))}"

    def _nominal(self, model: str) -> Mapping[str, Any] | None:
        return next((r for r in self.rows if r["model"] == model and str(r.get("nominal")).lower() == "true"), None)

    def yields(self, max_accuracy_drop: float = 0.01) -> list[tuple[Mapping[str, Any], Yield | None]]:
        """Each row with its :func:`chip_yield` (None where the row has no chips or the model no nominal row)."""
        out = []
        for r in self.rows:
            nominal = self._nominal(str(r["model"]))
            out.append((r, None if nominal is None else chip_yield(nominal, r, max_accuracy_drop)))
        return out

    @property
    def has_chips(self) -> bool:
        """True if some rows carry drawn chips (stuck cells; their yield is reported)."""
        return any(_has_chips(r) for r in self.rows)

    def table_rows(self, max_accuracy_drop: float = 0.01) -> tuple[list[str], list[list[Any]]]:
        """Headers and cells of the trade-off table (numbers, not strings); a yield column for chips."""
        asymmetric = any(r.get("p01") != r.get("p10") for r in self.rows)
        rates = ["ber", "p01", "p10"] if asymmetric else ["ber"]
        chips = self.has_chips
        yields = dict((id(r), y) for r, y in self.yields(max_accuracy_drop)) if chips else {}
        headers = [
            "model",
            *self.knobs,
            *rates,
            "accuracy",
            "ci95",
            "ci_over",
            "energy_uj",
            "energy_saved",
            "memory_saved",
            "latency_us",
            "pareto",
        ]
        if chips:
            headers.insert(headers.index("energy_uj"), f"yield@{_points(max_accuracy_drop)}")
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
            y = yields.get(id(r))
            chip_cell = [] if not chips else ["" if y is None else f"{y.good}/{y.chips} ({y.low:.2f}-{y.high:.2f})"]
            cells.append(
                [
                    r["model"],
                    *(_num(r, k) if _is_number(r[k]) else r[k] for k in self.knobs),
                    *(_num(r, k) for k in rates),
                    _num(r, "accuracy"),
                    _ci_text(r),
                    _UNITS.get(str(r.get("ci_method") or "wilson-images"), str(r.get("ci_method"))),
                    *chip_cell,
                    None if energy is None else energy / 1e6,
                    _percent(_num(r, "energy_saved")),
                    _percent(_num(r, "memory_energy_saved")),
                    None if latency is None else latency / 1e3,
                    "*" if id(r) in on_front else "",
                ]
            )
        return headers, cells

    def choices(
        self, max_accuracy_drop: float = 0.01, conservative: bool = False, min_yield: float | None = None
    ) -> list[Choice]:
        """:func:`choose` on these rows."""
        return choose(self.rows, max_accuracy_drop, conservative, min_yield)

    def summary(
        self, max_accuracy_drop: float = 0.01, conservative: bool = False, min_yield: float | None = None
    ) -> list[str]:
        """One sentence per model: the chosen point and what it saves, with intervals (and yield)."""
        lines = []
        for c in self.choices(max_accuracy_drop, conservative, min_yield):
            base = c.nominal
            if c.chosen is None:  # cannot happen: the nominal point always qualifies
                continue
            r = c.chosen
            if r is base:
                if min_yield is not None:
                    lines.append(
                        f"{c.model}: keep the nominal point: at no lower-energy point are at least "
                        f"{100 * min_yield:g} % of chips shown (one-sided 95 % Clopper-Pearson) to stay within "
                        f"{_points(max_accuracy_drop)} of their nominal accuracy (more chips raise the bound)"
                    )
                    continue
                if c.energy_key is None:
                    lines.append(
                        f"{c.model}: no point with a higher BER than {self._point(base)} stays within "
                        f"{_points(max_accuracy_drop)} of its accuracy {float(base['accuracy']):.4f}"
                    )
                    continue
                lines.append(
                    f"{c.model}: keep the {'nominal point' if c.reference == 'nominal' else 'lowest-BER point'}: "
                    "no lower-energy point is "
                    + ("shown (one-sided 95 %) to be" if conservative else "")
                    + f" within {_points(max_accuracy_drop)} of its accuracy {float(base['accuracy']):.4f}"
                    + (" (more trials or images narrow the bound)" if conservative else "")
                )
                continue
            base_name = "nominal" if c.reference == "nominal" else f"the lowest-BER point present ({self._point(base)})"
            if c.energy_key is None:
                lines.append(
                    f"{c.model}: tolerates up to {self._point(r)} (BER {format_value(_num(r, 'ber'))}): accuracy "
                    f"{float(r['accuracy']):.4f} (95 % CI {_ci_text(r)}, over {_over(r)}) against "
                    f"{float(base['accuracy']):.4f} ({_ci_text(base)}) at {base_name}; these rows carry no energy "
                    "(bare BERs, or a profile without it): the choice is the highest BER within the drop"
                )
                continue
            left_out = str(r.get("energy_left_out") or "")
            what = "inference energy" if c.energy_key == "energy_pj_per_inference" else "memory energy"
            y = chip_yield(base, r, max_accuracy_drop)
            chips = ""
            if y is not None:
                chips = (
                    f"; {y.good} of {y.chips} chips within {_points(max_accuracy_drop)} (yield {y.estimate:.2f}, "
                    f"95 % CI {y.low:.2f}-{y.high:.2f}, one-sided lower bound {y.lower_bound:.2f})"
                )
            lines.append(
                f"{c.model}: run at {self._point(r)} (BER {format_value(_num(r, 'ber'))}): accuracy "
                f"{float(r['accuracy']):.4f} (95 % CI {_ci_text(r)}, over {_over(r)}) "
                f"against {float(base['accuracy']):.4f} ({_ci_text(base)}) at "
                f"{base_name}{chips}; saves {_percent(c.saved)} of the {what}"
                + ("" if c.reference == "nominal" else " (relative to that point: the sweep has no nominal row)")
                + (
                    f" (memory part {_percent(_num(r, 'memory_energy_saved'))})"
                    if what == "inference energy" and c.reference == "nominal"
                    else ""
                )
                + (f"; leaves out {left_out.replace(';', ', ')} (not published)" if left_out else "")
            )
        return lines

    def to_text(
        self, max_accuracy_drop: float = 0.01, conservative: bool = False, min_yield: float | None = None
    ) -> str:
        """The table (``*`` marks the Pareto front of energy vs accuracy) and the chosen points."""
        headers, cells = self.table_rows(max_accuracy_drop)
        return "\n".join(
            [
                table(headers, cells),
                "",
                f"Chosen operating points ({_rule(max_accuracy_drop, conservative, min_yield)}):",
                *self.summary(max_accuracy_drop, conservative, min_yield),
                "",
                self.interval_note(),
            ]
        )

    def interval_note(self) -> str:
        """What the rows' intervals are over (one sentence per interval kind present)."""
        methods = dict.fromkeys(str(r.get("ci_method") or "wilson-images") for r in self.rows)
        parts = [f"{m}: {CI_METHODS.get(m, 'unknown interval kind')}" for m in methods]
        note = "Intervals (95 %): " + "; ".join(parts) + "."
        if self.has_chips:
            note += " Yield: chips within the drop of their own nominal accuracy, 95 % Clopper-Pearson over chips."
        return note

    def to_markdown(
        self, max_accuracy_drop: float = 0.01, conservative: bool = False, min_yield: float | None = None
    ) -> str:
        """The same as Markdown."""
        headers, cells = self.table_rows(max_accuracy_drop)
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(format_value(c) for c in row) + " |" for row in cells]
        lines += ["", f"**Chosen operating points** ({_rule(max_accuracy_drop, conservative, min_yield)}):", ""]
        lines += [f"- {s}" for s in self.summary(max_accuracy_drop, conservative, min_yield)]
        lines += ["", "`*`: on the Pareto front of energy vs accuracy (per model). " + self.interval_note()]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        """The trade-off table as CSV."""
        headers, cells = self.table_rows()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows([["" if c is None else c for c in row] for row in cells])
        return buffer.getvalue()


#: How a row's ``ci_method`` is named in tables: what the interval is over.
_UNITS = {"wilson-images": "images", "t-chips": "chips", "t-batches": "batches"}


def knob_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The knob columns of sweep rows: those between ``profile`` and ``ber``."""
    header = list(rows[0]) if rows else []
    return header[2 : header.index("ber")] if "ber" in header else []


def _over(row: Mapping[str, Any]) -> str:
    return _UNITS.get(str(row.get("ci_method") or "wilson-images"), str(row.get("ci_method")))


def _ci_text(row: Mapping[str, Any]) -> str:
    low, high = _num(row, "ci95_low"), _num(row, "ci95_high")
    if low is None or high is None:
        return "n/a (one chip)"
    return f"{low:.4f}-{high:.4f}"


def _rule(drop: float, conservative: bool, min_yield: float | None) -> str:
    if min_yield is not None:
        return f"at least {100 * min_yield:g} % of chips within {_points(drop)}, one-sided 95 % Clopper-Pearson"
    return f"accuracy drop <= {_points(drop)}, " + ("one-sided 95 % bound of the drop" if conservative else "estimate")


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
    from memsim.fileio import write_text_atomic

    path = Path(out)
    write_text_atomic(path, TradeoffReport.from_dir(directory).to_markdown(**options))
    return path
