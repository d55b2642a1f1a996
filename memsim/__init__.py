"""memsim: an approximate-memory simulator for binarized neural networks.

The pipeline (see ``DESIGN`` in the README): a memory :class:`Profile` maps an
operating point (supply voltage, timing) to bit error rate, energy and latency;
an approximate memory serves a BNN's weights with fresh bit flips on every read;
a numba engine runs inference on them; experiments sweep operating points.

``import memsim`` loads neither torch nor matplotlib.
"""

from memsim._version import __version__
from memsim.bnn import BNN, ModelFileError, available_models, load_model
from memsim.datasets import available_datasets, load_dataset
from memsim.errors import MemsimError, OutOfRangeError, ProfileError, UnknownNameError
from memsim.memory import (
    AccessCounter,
    ApproximateMemory,
    PersistentFaults,
    ReadGranularity,
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
]
