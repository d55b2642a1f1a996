"""Experiments (pipeline layer 4): evaluations of a network at operating points, audits of a memory.

Sweeps over operating points with energy and latency per inference build on these.
"""

from memsim.experiment.audit import ReadAudit, audit_reads
from memsim.experiment.conditions import Rates, apply_rates
from memsim.experiment.evaluate import Evaluation, evaluate
from memsim.experiment.stats import wilson_interval

__all__ = ["Evaluation", "Rates", "ReadAudit", "apply_rates", "audit_reads", "evaluate", "wilson_interval"]
