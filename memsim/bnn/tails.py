"""Window sizes for tabulated binomial CDFs: how far from the mean a table must reach.

Both fast paths (:mod:`memsim.bnn.fastpath`, :mod:`memsim.bnn.lawpath`) tabulate CDFs over a
window and treat the mass beyond it as 0 or 1; this bound sizes the window.
"""

from __future__ import annotations

import math

__all__ = ["TAIL_LOG", "bernstein_reach"]

#: Natural log of the largest tail mass a table leaves out on each side (1e-30).
TAIL_LOG = 30.0 * math.log(10.0)


def bernstein_reach(variance: float, log_tail: float = TAIL_LOG) -> float:
    """Distance from the mean beyond which a sum of independent [-1, 1]-bounded terms has tail mass below
    ``exp(-log_tail)`` on each side.

    Bernstein: ``P(S - E S >= d) <= exp(-d^2 / (2 (V + d / 3)))``; solving for equality gives
    ``d = L / 3 + sqrt(L^2 / 9 + 2 L V)``. Unlike ``mean +- k sd``, it holds for small ``n p``
    (Poisson-like counts), where the tail is far heavier than a normal one.
    """
    L = float(log_tail)
    return L / 3.0 + math.sqrt(L * L / 9.0 + 2.0 * L * max(variance, 0.0))
