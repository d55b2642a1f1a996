"""memsim: an approximate-memory simulator for binarized neural networks.

The pipeline (the README's layout): a memory :class:`Profile` maps an operating
point (supply voltage, timing) to bit error rate, energy and latency
(:mod:`memsim.profile`); an :class:`ApproximateMemory` serves a BNN's weights with
fresh bit flips on every read, keyed by what each read serves (:mod:`memsim.memory`);
a numba engine runs inference on them (:mod:`memsim.bnn`); experiments evaluate
operating points (:mod:`memsim.experiment`) and reports format them
(:mod:`memsim.report`). This namespace re-exports the everyday names.

``import memsim`` loads neither torch nor matplotlib.
"""

from memsim._version import __version__
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
    "load_profile",
    "profile_from_csv",
    "profile_from_fault_maps",
    "save_model",
]
