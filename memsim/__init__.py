"""memsim: an approximate-memory simulator for binarized neural networks.

The pipeline (the README's layout): a memory :class:`Profile` maps an operating
point (supply voltage, timing) to bit error rate, energy and latency
(:mod:`memsim.profile`); an :class:`ApproximateMemory` serves a BNN's weights with
fresh bit flips on every read, keyed by what each read serves (:mod:`memsim.memory`);
a numba engine runs inference on them (:mod:`memsim.bnn`); experiments evaluate
operating points (:mod:`memsim.experiment`) and reports format them
(:mod:`memsim.report`). This namespace re-exports the everyday names.

``import memsim`` loads neither torch nor matplotlib, and nothing heavy at all: the names below are
imported on first use (PEP 562), so the ``memsim`` command's own Ctrl-C handling covers loading numba.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from memsim._version import __version__

#: Everyday name -> the module it lives in.
_NAMES = {
    name: module
    for module, names in {
        "memsim.bnn": "BNN available_models load_model save_model",
        "memsim.datasets": "available_datasets load_dataset",
        "memsim.experiment.networks": "load_network",
        "memsim.errors": "ConfigError DatasetError MemsimError ModelFileError OutOfRangeError ProfileError "
        "UnknownNameError",
        "memsim.memory": "AccessCounter ApproximateMemory PersistentFaults ReadGranularity ReadSet "
        "available_fault_models get_fault_model",
        "memsim.profile": "Knob MechanismRate OperatingPoint Profile available_profiles load_profile "
        "profile_from_csv profile_from_fault_maps",
    }.items()
    for name in names.split()
}

__all__ = [
    "BNN",
    "AccessCounter",
    "ApproximateMemory",
    "ConfigError",
    "DatasetError",
    "Knob",
    "MechanismRate",
    "MemsimError",
    "ModelFileError",
    "OperatingPoint",
    "OutOfRangeError",
    "PersistentFaults",
    "Profile",
    "ProfileError",
    "ReadGranularity",
    "ReadSet",
    "UnknownNameError",
    "__version__",
    "available_datasets",
    "available_fault_models",
    "available_models",
    "available_profiles",
    "get_fault_model",
    "load_dataset",
    "load_model",
    "load_network",
    "load_profile",
    "profile_from_csv",
    "profile_from_fault_maps",
    "save_model",
]


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
    else:
        try:  # a subpackage used as an attribute (``memsim.profile.profile_dirs()``), as an eager import allowed
            value = importlib.import_module(f"memsim.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"memsim.{name}":
                raise
            raise AttributeError(f"module 'memsim' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_NAMES})


if TYPE_CHECKING:
    from memsim.bnn import BNN, available_models, load_model, save_model
    from memsim.datasets import available_datasets, load_dataset
    from memsim.errors import (
        ConfigError,
        DatasetError,
        MemsimError,
        ModelFileError,
        OutOfRangeError,
        ProfileError,
        UnknownNameError,
    )
    from memsim.experiment.networks import load_network
    from memsim.memory import (
        AccessCounter,
        ApproximateMemory,
        PersistentFaults,
        ReadGranularity,
        ReadSet,
        available_fault_models,
        get_fault_model,
    )
    from memsim.profile import (
        Knob,
        MechanismRate,
        OperatingPoint,
        Profile,
        available_profiles,
        load_profile,
        profile_from_csv,
        profile_from_fault_maps,
    )
