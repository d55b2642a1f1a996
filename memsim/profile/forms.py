"""Named analytic BER forms, looked up by name from profile files.

A profile's BER comes from measured (or tabulated) points; a *form* is the
closed-form model behind them. Forms are used only where the caller asks to
extrapolate beyond the points, and by tests that check tabulated, model-derived
points against the model they were derived from. Each form is a small function
of one knob value ``x`` and named parameters, registered with :func:`register_form`.

The forms and where they come from are listed in ``profiles/README.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from memsim.errors import UnknownNameError, suggest

__all__ = ["Form", "available_forms", "get_form", "normal_cdf", "register_form"]


def normal_cdf(z: np.ndarray | float) -> np.ndarray:
    """Standard normal CDF, accurate in the far tails (via ``erfc``).

    Parameters
    ----------
    z : array_like
        Standard scores.

    Returns
    -------
    numpy.ndarray
        ``Phi(z)``, same shape as ``z``.
    """
    z = np.asarray(z, dtype=float)
    # erfc keeps relative accuracy for Phi(-8) ~ 6e-16, where 1 + erf would round to 0.
    return 0.5 * np.vectorize(math.erfc, otypes=[float])(-z / math.sqrt(2.0))


@dataclass(frozen=True)
class Form:
    """A named closed-form BER model ``ber = f(x, **params)``.

    Attributes
    ----------
    name : str
        Registry name used in profile files (``model.form``).
    params : tuple of str
        Required parameter names.
    optional : dict
        Optional parameters and their defaults.
    trend : str
        ``"non_increasing"`` or ``"non_decreasing"``: how BER moves as ``x`` grows.
    function : callable
        ``function(x, **params) -> ndarray`` of BER values in [0, 1].
    formula : str
        The formula, for documentation and ``memsim profiles show``.
    knob_units : dict
        How each parameter scales when the knob's unit is multiplied by ``f``:
        ``"times"`` (a knob value or width: ``param * f``) or ``"per"`` (a per-unit
        slope: ``param / f``). Parameters not named do not change. Empty if the knob is
        dimensionless by nature (then :meth:`rescale` returns None).
    arity : int
        Number of knobs: 1 (``x`` is one value), or more for a grid's model (``x`` is a
        sequence of one value per knob, in the profile's ``model.knobs`` order).
    """

    name: str
    params: tuple[str, ...]
    optional: dict[str, float]
    trend: str
    function: Callable[..., np.ndarray]
    formula: str
    knob_units: dict[str, str]
    arity: int = 1

    def rescale(self, params: dict[str, float], factor: float) -> dict[str, float] | None:
        """Parameters for the knob in units ``factor`` times larger, or None if the form has no rule."""
        if not self.knob_units:
            return None
        out = dict(params)
        for key, how in self.knob_units.items():
            if key in out:
                out[key] = out[key] * factor if how == "times" else out[key] / factor
        return out

    def __call__(self, x: np.ndarray | float | Sequence[float], params: dict[str, float]) -> np.ndarray:
        """Evaluate the form at knob value(s) ``x`` with ``params``."""
        full = {**self.optional, **params}
        return np.asarray(self.function(np.asarray(x, dtype=float), **full), dtype=float)


_FORMS: dict[str, Form] = {}


def register_form(
    name: str,
    params: tuple[str, ...],
    trend: str,
    formula: str,
    optional: dict[str, float] | None = None,
    knob_units: dict[str, str] | None = None,
    arity: int = 1,
) -> Callable[[Callable[..., np.ndarray]], Callable[..., np.ndarray]]:
    """Register a BER form under ``name`` (decorator).

    Parameters
    ----------
    name : str
        Name used in profile files.
    params : tuple of str
        Required parameter names.
    trend : {"non_increasing", "non_decreasing"}
        Direction of BER as the knob grows.
    formula : str
        Human-readable formula.
    optional : dict, optional
        Optional parameters with defaults.
    knob_units : dict, optional
        How parameters scale with the knob's unit (see :class:`Form`).
    arity : int, default 1
        Number of knobs the form takes (see :class:`Form`).
    """

    def decorate(function: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        _FORMS[name] = Form(name, params, dict(optional or {}), trend, function, formula, dict(knob_units or {}), arity)
        return function

    return decorate


def get_form(name: str) -> Form:
    """Look up a registered form by name.

    Raises
    ------
    UnknownNameError
        If no form has that name; the message lists the valid names.
    """
    try:
        return _FORMS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown BER form {name!r}{suggest(name, _FORMS)}; valid forms: {', '.join(sorted(_FORMS))}"
        ) from None


def available_forms() -> list[str]:
    """Names of all registered BER forms, sorted."""
    return sorted(_FORMS)


@register_form(
    "gaussian_threshold",
    params=("mean", "std"),
    optional={"scale": 1.0},
    trend="non_increasing",
    formula="ber = scale * Phi((mean - x) / std)",
    knob_units={"mean": "times", "std": "times"},
)
def _gaussian_threshold(x: np.ndarray, mean: float, std: float, scale: float) -> np.ndarray:
    # Each cell needs x >= its own threshold ~ N(mean, std^2) to work (cell Vmin,
    # critical activation time): the failing fraction at x is Phi((mean - x)/std).
    return scale * normal_cdf((mean - x) / std)


@register_form(
    "log_linear",
    params=("intercept", "slope"),
    trend="non_increasing",
    formula="log10(ber) = intercept + slope * x  (slope < 0), capped at 0.5",
    knob_units={"slope": "per"},
)
def _log_linear(x: np.ndarray, intercept: float, slope: float) -> np.ndarray:
    return np.minimum(10.0 ** (intercept + slope * x), 0.5)


@register_form(
    "stt_read_disturb",
    params=("delta", "pulse_ns"),
    optional={"tau0_ns": 1.0, "scale": 1.0},
    trend="non_decreasing",
    formula="ber = scale * (1 - exp(-(pulse_ns / tau0_ns) * exp(-delta * (1 - x)))),  x = I_read / I_c0",
)
def _stt_read_disturb(x: np.ndarray, delta: float, pulse_ns: float, tau0_ns: float, scale: float) -> np.ndarray:
    # Thermally assisted switching during a read pulse (Neel-Brown with the
    # barrier lowered by the read current); -expm1 keeps tiny rates exact.
    # scale = 0.5 when only one stored state can be disturbed (ber averages both).
    return scale * -np.expm1(-(pulse_ns / tau0_ns) * np.exp(-delta * (1.0 - x)))


@register_form(
    "stt_write_error",
    params=("delta", "pulse_ns"),
    optional={"tau_d_ns": 1.0},
    trend="non_increasing",
    formula="ber = 1 - exp(-(pi^2 delta / 4) * exp(-2 (x - 1) pulse_ns / tau_d_ns)),  x = I_write / I_c0",
)
def _stt_write_error(x: np.ndarray, delta: float, pulse_ns: float, tau_d_ns: float) -> np.ndarray:
    # Precessional-regime write error rate (Sun/Butler form) for x > 1.
    return -np.expm1(-(math.pi**2 * delta / 4.0) * np.exp(-2.0 * (x - 1.0) * pulse_ns / tau_d_ns))


@register_form(
    "rram_2t2r_overlap",
    params=("std_lrs", "std_hrs"),
    trend="non_increasing",
    formula="ber = Phi(-x / sqrt(std_lrs^2 + std_hrs^2)),  x = ln R_HRS - ln R_LRS (median separation)",
)
def _rram_2t2r_overlap(x: np.ndarray, std_lrs: float, std_hrs: float) -> np.ndarray:
    # A 2T2R differential read errs when the LRS device reads above its HRS twin.
    return normal_cdf(-x / math.sqrt(std_lrs**2 + std_hrs**2))


@register_form(
    "retention_power_law",
    params=("ber_ref", "interval_ref", "exponent", "temp_ref", "per_degree"),
    trend="non_decreasing",
    formula=(
        "ber = ber_ref * (t / interval_ref)^exponent * exp(per_degree * (T - temp_ref)), capped at 0.5; "
        "x = (t, T): refresh interval and temperature"
    ),
    arity=2,
)
def _retention_power_law(
    x: np.ndarray, ber_ref: float, interval_ref: float, exponent: float, temp_ref: float, per_degree: float
) -> np.ndarray:
    # The tail of a DRAM retention-time distribution: the share of cells whose retention time is
    # below the interval t grows as a power of t over the measured decade (Liu et al. ISCA 2013 plot it
    # on log-log axes), and retention time falls exponentially with temperature (leakage is thermally
    # activated), which multiplies that share by a factor per degree.
    t, temp = x[0], x[1]
    return np.minimum(ber_ref * (t / interval_ref) ** exponent * np.exp(per_degree * (temp - temp_ref)), 0.5)
