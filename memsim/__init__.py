"""memsim: an approximate-memory simulator for binarized neural networks.

The pipeline (see ``DESIGN`` in the README): a memory :class:`Profile` maps an
operating point (supply voltage, timing) to bit error rate, energy and latency;
an approximate memory serves a BNN's weights with fresh bit flips on every read;
a numba engine runs inference on them; experiments sweep operating points.

``import memsim`` loads neither torch nor matplotlib.
"""

from memsim.errors import MemsimError, OutOfRangeError, ProfileError, UnknownNameError
from memsim.profile import (
    Knob,
    MechanismRate,
    OperatingPoint,
    Profile,
    available_profiles,
    import_csv,
    import_fault_maps,
    load_profile,
)

__version__ = "0.1.0"

__all__ = [
    "Knob",
    "MechanismRate",
    "MemsimError",
    "OperatingPoint",
    "OutOfRangeError",
    "Profile",
    "ProfileError",
    "UnknownNameError",
    "__version__",
    "available_profiles",
    "import_csv",
    "import_fault_maps",
    "load_profile",
]
