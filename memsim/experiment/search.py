"""Search: the most aggressive operating point of one knob that keeps accuracy within a drop.

Bisection over the knob between its most aggressive end (the end where the BER is highest:
the low end of a voltage or a timing knob) and its nominal value. Accuracy over voltage is
monotone only in expectation: each evaluation is a sample. The search handles the noise in
two ways. At each probe it compares the estimated drop ``a_nominal - a`` with the allowed
one; when the two differ by less than two standard errors of the drop (binomial, over trials
x images), it doubles the probe's trials (up to ``max_trials``) before deciding, so more
evaluations go where the decision is close. And it reports the chosen point with its
interval and every evaluation it spent, so a user sees how sure the answer is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from memsim.errors import ConfigError, UnknownNameError, suggest
from memsim.experiment.cells import Cell, run_cell
from memsim.experiment.spec import SweepSpec
from memsim.experiment.stats import row_se
from memsim.profile import load_profile

__all__ = ["SearchResult", "search"]


@dataclass(frozen=True)
class SearchResult:
    """The outcome of :func:`search`.

    Attributes
    ----------
    knob : str
        The knob searched.
    chosen : dict
        The row (as :func:`memsim.experiment.cells.run_cell` gives it) of the most aggressive
        accepted value: the nominal point if none other is accepted.
    nominal : dict
        The nominal point's row.
    evaluations : list of dict
        Every probe in order: knob value, trials, accuracy, interval, accepted.
    images_evaluated : int
        Inferences spent in total (trials x images over all probes).
    """

    knob: str
    chosen: dict[str, Any]
    nominal: dict[str, Any]
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    images_evaluated: int = 0


def _row(spec: SweepSpec, model: str, knob: str, value: float, trials: int) -> dict[str, Any]:
    point = replace(spec, knobs={knob: [value]}, trials=trials)
    return run_cell(point, Cell(model, ((knob, value),), None))


def search(
    model: str,
    profile: str,
    knob: str,
    max_accuracy_drop: float = 0.01,
    trials: int = 2,
    max_trials: int = 8,
    tolerance: float | None = None,
    max_probes: int = 12,
    **sweep_options: Any,
) -> SearchResult:
    """Bisect ``knob`` for the most aggressive value whose accuracy stays within ``max_accuracy_drop``.

    Parameters
    ----------
    model, profile : str
        A model and a profile (names or paths).
    knob : str
        A numeric knob of the profile.
    max_accuracy_drop : float
        Allowed drop against the nominal point (0.01 = 1 point).
    trials, max_trials : int
        Trials per probe, and the most a close probe is raised to.
    tolerance : float, optional
        Stop when the bracket is narrower (knob units); default 1 % of the knob's range.
    max_probes : int
        At most this many probes besides the nominal point.
    **sweep_options
        Other :class:`~memsim.experiment.spec.SweepSpec` options (seed, dataset, limit, timing, ...).

    Raises
    ------
    ConfigError, UnknownNameError
        For an unknown or categorical knob, or bad options.
    """
    prof = load_profile(profile)
    if knob not in prof.knobs:
        raise UnknownNameError(
            f"profile {prof.name!r} has no knob {knob!r}{suggest(knob, prof.knobs)}; its knobs: {', '.join(prof.knobs)}"
        )
    spec_knob = prof.knobs[knob]
    if spec_knob.min is None or spec_knob.max is None or spec_knob.is_categorical:
        raise ConfigError(f"knob {knob!r} is categorical; search a numeric knob (or sweep the categories)")
    if not 1 <= trials <= max_trials:
        raise ConfigError(f"need 1 <= trials <= max_trials, got {trials} and {max_trials}")
    if not 0 <= max_accuracy_drop <= 1:
        raise ConfigError(f"max_accuracy_drop must be in [0, 1], got {max_accuracy_drop!r}")
    nominal_value = float(spec_knob.nominal)
    ends = [float(spec_knob.min), float(spec_knob.max)]
    # The aggressive end is the one with the higher BER (the low end of a voltage or a timing knob).
    aggressive = max(ends, key=lambda v: prof.at_knobs({knob: v}).ber)
    tol = tolerance if tolerance is not None else 0.01 * (ends[1] - ends[0])
    span = abs(nominal_value - aggressive)
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and 0 < tol < span):
        raise ConfigError(
            f"tolerance must be a positive number of knob units below the searched span {span:g} "
            f"({knob} from {aggressive:g} to nominal {nominal_value:g}), got {tolerance!r}"
        )
    spec = SweepSpec(models=(model,), profile=profile, knobs={knob: [nominal_value]}, trials=trials, **sweep_options)
    evaluations: list[dict[str, Any]] = []
    spent = 0

    def probe(value: float, n_trials: int) -> dict[str, Any]:
        nonlocal spent
        row = _row(spec, model, knob, value, n_trials)
        spent += n_trials * int(row["n_images"])
        return row

    nominal = probe(nominal_value, max_trials)  # the reference deserves the most trials
    evaluations.append(_record(knob, nominal, True))
    a0 = float(nominal["accuracy"])
    good, bad = nominal_value, aggressive
    chosen = nominal
    for _ in range(max_probes):
        if abs(good - bad) <= tol:
            break
        mid = float(f"{(good + bad) / 2:.12g}")
        n_trials = trials
        while True:
            row = probe(mid, n_trials)
            a = float(row["accuracy"])
            se = math.sqrt(row_se(nominal) ** 2 + row_se(row) ** 2)  # each row over its own units (ci_method)
            close = not math.isfinite(se) or abs((a0 - a) - max_accuracy_drop) < 2 * se
            if not close or n_trials >= max_trials:
                break
            n_trials = min(max_trials, 2 * n_trials)
        accepted = a0 - a <= max_accuracy_drop
        evaluations.append(_record(knob, row, accepted))
        if accepted:
            good, chosen = mid, row
        else:
            bad = mid
    return SearchResult(knob, chosen, nominal, evaluations, spent)


def _record(knob: str, row: dict[str, Any], accepted: bool) -> dict[str, Any]:
    return {
        knob: row[knob],
        "ber": row["ber"],
        "trials": row["trials"],
        "accuracy": row["accuracy"],
        "ci95_low": row["ci95_low"],
        "ci95_high": row["ci95_high"],
        "energy_saved": row["energy_saved"],
        "accepted": accepted,
    }
