"""Approximate memory (pipeline layer 2): stored bits read back with fresh errors."""

from memsim.memory.approximate import ApproximateMemory
from memsim.memory.counters import AccessCounter
from memsim.memory.faults import (
    AsymmetricFaults,
    FaultModel,
    MixedFaults,
    PersistentFaults,
    ReadContext,
    TransientFaults,
    available_fault_models,
    get_fault_model,
    register_fault_model,
)
from memsim.memory.granularity import ReadGranularity, parse_granularity
from memsim.memory.reads import ReadSet, SymmetricFlips

__all__ = [
    "AccessCounter",
    "ApproximateMemory",
    "AsymmetricFaults",
    "FaultModel",
    "MixedFaults",
    "PersistentFaults",
    "ReadContext",
    "ReadGranularity",
    "ReadSet",
    "SymmetricFlips",
    "TransientFaults",
    "available_fault_models",
    "get_fault_model",
    "parse_granularity",
    "register_fault_model",
]
