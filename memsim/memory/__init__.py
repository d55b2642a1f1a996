"""Approximate memory (pipeline layer 2): stored bits read back with fresh errors."""

from memsim.memory.approximate import AccessCounter, ApproximateMemory, ReadGranularity
from memsim.memory.faults import (
    AsymmetricFlips,
    FaultModel,
    MixedFaults,
    PersistentFaults,
    TransientFlips,
    available_fault_models,
    get_fault_model,
    register_fault_model,
)

__all__ = [
    "AccessCounter",
    "ApproximateMemory",
    "AsymmetricFlips",
    "FaultModel",
    "MixedFaults",
    "PersistentFaults",
    "ReadGranularity",
    "TransientFlips",
    "available_fault_models",
    "get_fault_model",
    "register_fault_model",
]
