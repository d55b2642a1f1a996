"""Memory technology profiles: operating point -> BER, energy and latency (pipeline layer 1)."""

from memsim.profile.catalog import available_profiles, load_profile, profile_dirs
from memsim.profile.core import Knob, Mechanism, Profile
from memsim.profile.fault_maps import FaultMapSet
from memsim.profile.forms import available_forms, get_form
from memsim.profile.importers import profile_from_csv, profile_from_fault_maps
from memsim.profile.operating_point import MechanismRate, OperatingPoint

__all__ = [
    "FaultMapSet",
    "Knob",
    "Mechanism",
    "MechanismRate",
    "OperatingPoint",
    "Profile",
    "available_forms",
    "available_profiles",
    "get_form",
    "load_profile",
    "profile_dirs",
    "profile_from_csv",
    "profile_from_fault_maps",
]
