"""Latency of one inference: weight fetches from banked memory and compute, as a discrete-event model (simpy).

The model, in one place:

* The weight memory is ``banks`` independent banks (or channels), each a simpy
  ``Resource`` that serves one request at a time. A request moves ``burst_bits`` bits
  and holds its bank for the operating point's access time: the profile's
  ``read_latency_ns`` (for the shipped DRAM, a closed-bank read ``tRCD + tCL + tBURST``,
  so the ``trcd_ns`` knob changes it one for one), or ``access_ns`` if given. Banks do not
  pipeline requests (a closed-page, one-request-per-bank policy: conservative).
* A layer's weight fetch is ``ceil(bits / burst_bits)`` requests spread round-robin over
  the banks; the fetch ends when its last request does. Requests are identical, so a bank
  serves its share of ``k`` requests as one hold of ``k`` access times: exactly what ``k``
  back-to-back requests would take, with ``banks`` events per layer instead of thousands.
* A layer computes for ``ops / ops_per_ns`` after its fetch has ended and the previous
  layer's compute has ended. With ``overlap`` (double buffering), the next layer's fetch
  starts as soon as the current one ends and a buffer is free (two buffers: fetch ``i``
  waits for compute ``i - 2``); without it, fetch ``i`` waits for compute ``i - 1``.

:func:`analytic_latency` gives the same numbers by recurrence; the tests hold the simulation
to it exactly, and to the closed forms of the simple cases (one bank, no overlap:
``sum(fetch_i + compute_i)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from memsim.errors import ConfigError

__all__ = ["LayerWork", "MemorySystem", "TimingResult", "analytic_latency", "simulate_inference"]

#: XNOR-popcount bit operations per ns of the default accelerator: 1,024 binary MACs per cycle at 1 GHz,
#: a plausible small BNN engine (FINN-style, Umuroglu et al. FPGA 2017: thousands of binary ops per cycle).
#: An assumption, not a measurement: override it for your accelerator.
DEFAULT_OPS_PER_NS = 1024.0


@dataclass(frozen=True)
class LayerWork:
    """What one layer of one inference fetches and computes.

    Attributes
    ----------
    name : str
        Layer (stored array) name.
    bits : int
        Weight bits fetched for one inference (per image; with ``per_access`` reads, every re-read).
    ops : int
        XNOR-popcount bit operations of the layer for one inference.
    """

    name: str
    bits: int
    ops: int


@dataclass(frozen=True)
class MemorySystem:
    """The accelerator's weight memory and compute rate.

    Parameters
    ----------
    banks : int, default 1
        Independent banks (or channels), each serving one request at a time.
    burst_bits : int, default 512
        Bits per request (a 64-byte line).
    access_ns : float, optional
        Time a request holds its bank, in ns; default: the operating point's ``read_latency_ns``.
    ops_per_ns : float, default 1024
        XNOR-popcount bit operations per ns (:data:`DEFAULT_OPS_PER_NS`).
    overlap : bool, default True
        Double buffering: fetch the next layer while computing this one.
    """

    banks: int = 1
    burst_bits: int = 512
    access_ns: float | None = None
    ops_per_ns: float = DEFAULT_OPS_PER_NS
    overlap: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.banks, bool) or not isinstance(self.banks, int) or self.banks < 1:
            raise ConfigError(f"banks must be a positive integer, got {self.banks!r}")
        if isinstance(self.burst_bits, bool) or not isinstance(self.burst_bits, int) or self.burst_bits < 1:
            raise ConfigError(f"burst_bits must be a positive integer, got {self.burst_bits!r}")
        if self.access_ns is not None and not (math.isfinite(self.access_ns) and self.access_ns > 0):
            raise ConfigError(f"access_ns must be a positive number of ns, got {self.access_ns!r}")
        if not (isinstance(self.ops_per_ns, (int, float)) and math.isfinite(self.ops_per_ns) and self.ops_per_ns > 0):
            raise ConfigError(f"ops_per_ns must be a positive number, got {self.ops_per_ns!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return asdict(self)


@dataclass(frozen=True)
class TimingResult:
    """Latency of one inference and where it goes.

    Attributes
    ----------
    latency_ns : float
        From the first request to the end of the last layer's compute.
    fetch_ns, compute_ns : tuple of float
        Per layer: duration of its weight fetch and of its compute.
    bank_utilisation : float
        Busy time of the banks over ``banks x latency_ns``.
    access_ns : float
        Time one request held its bank.
    """

    latency_ns: float
    fetch_ns: tuple[float, ...]
    compute_ns: tuple[float, ...]
    bank_utilisation: float
    access_ns: float


def _check_work(work: Sequence[LayerWork]) -> None:
    if not work:
        raise ConfigError("an inference needs at least one layer")
    for layer in work:
        if layer.bits < 0 or layer.ops < 0:
            raise ConfigError(f"layer {layer.name!r}: bits and ops must be non-negative, got {layer.bits}, {layer.ops}")


def _access_ns(system: MemorySystem, read_latency_ns: float | None) -> float:
    access = system.access_ns if system.access_ns is not None else read_latency_ns
    if access is None:
        raise ConfigError(
            "no access time: the profile publishes no read latency; give MemorySystem(access_ns=...) "
            "(CLI: --access-ns) for your memory"
        )
    if not (math.isfinite(access) and access > 0):
        raise ConfigError(f"the access time must be a positive number of ns, got {access!r}")
    return float(access)


def _requests_per_bank(bits: int, system: MemorySystem) -> list[int]:
    requests = -(-bits // system.burst_bits)  # ceil
    base, extra = divmod(requests, system.banks)
    return [base + (1 if b < extra else 0) for b in range(system.banks)]


def simulate_inference(
    work: Sequence[LayerWork], system: MemorySystem, read_latency_ns: float | None = None
) -> TimingResult:
    """Simulate one inference (see the module docstring for the model).

    Parameters
    ----------
    work : sequence of LayerWork
        The layers in order.
    system : MemorySystem
        Banks, burst size, access time, compute rate, overlap.
    read_latency_ns : float, optional
        The operating point's read latency, used unless ``system.access_ns`` is set.

    Raises
    ------
    ConfigError
        Without an access time, or for negative work.
    """
    import simpy

    _check_work(work)
    access = _access_ns(system, read_latency_ns)
    env = simpy.Environment()
    banks = [simpy.Resource(env, capacity=1) for _ in range(system.banks)]
    n = len(work)
    fetched = [env.event() for _ in range(n)]
    computed = [env.event() for _ in range(n)]
    fetch_times = [0.0] * n
    compute_times = [0.0] * n
    busy = [0.0]

    def bank_share(bank: simpy.Resource, k: int) -> Any:
        with bank.request() as req:
            yield req
            yield env.timeout(k * access)
            busy[0] += k * access

    def fetch(i: int) -> Any:
        # Buffer rule: with double buffering fetch i needs compute i-2 done, else compute i-1.
        gate = i - 2 if system.overlap else i - 1
        if gate >= 0:
            yield computed[gate]
        if i > 0:
            yield fetched[i - 1]  # one fetch stream: the memory serves layers in order
        start = env.now
        shares = [
            env.process(bank_share(b, k))
            for b, k in zip(banks, _requests_per_bank(work[i].bits, system), strict=True)
            if k
        ]
        if shares:
            yield env.all_of(shares)
        fetch_times[i] = env.now - start
        fetched[i].succeed()

    def compute(i: int) -> Any:
        yield fetched[i]
        if i > 0:
            yield computed[i - 1]
        duration = work[i].ops / system.ops_per_ns
        yield env.timeout(duration)
        compute_times[i] = duration
        computed[i].succeed()

    for i in range(n):
        env.process(fetch(i))
        env.process(compute(i))
    env.run(until=computed[-1])
    latency = float(env.now)
    utilisation = busy[0] / (system.banks * latency) if latency > 0 else 0.0
    return TimingResult(latency, tuple(fetch_times), tuple(compute_times), utilisation, access)


def analytic_latency(work: Sequence[LayerWork], system: MemorySystem, read_latency_ns: float | None = None) -> float:
    """The latency of :func:`simulate_inference` by recurrence, without simulation.

    ``f_i = max over banks of (requests on the bank) x access``, ``c_i = ops_i / ops_per_ns``;
    fetch ``i`` starts at ``max(F_{i-1}, C_gate)`` (``gate = i - 2`` with overlap, else ``i - 1``)
    and ends ``f_i`` later; compute ``i`` ends at ``max(F_i, C_{i-1}) + c_i``. With one bank and no
    overlap this is ``sum(f_i + c_i)``.
    """
    _check_work(work)
    access = _access_ns(system, read_latency_ns)
    fetch_end: list[float] = []
    compute_end: list[float] = []
    for i, layer in enumerate(work):
        f = max(_requests_per_bank(layer.bits, system)) * access
        gate = i - 2 if system.overlap else i - 1
        start = max(fetch_end[i - 1] if i else 0.0, compute_end[gate] if gate >= 0 else 0.0)
        fetch_end.append(start + f)
        compute_end.append(max(fetch_end[i], compute_end[i - 1] if i else 0.0) + layer.ops / system.ops_per_ns)
    return compute_end[-1]
