"""BNN inference engine (pipeline layer 3): bit-packed XNOR-popcount layers fed by approximate memory."""

from memsim.bnn.architectures import ARCHITECTURES, INPUT_THRESHOLD
from memsim.bnn.layers import Conv, Dense
from memsim.bnn.modelfile import available_models, load_model, save_model
from memsim.bnn.network import BNN
from memsim.bnn.source import WeightSource
from memsim.errors import ModelFileError

__all__ = [
    "ARCHITECTURES",
    "BNN",
    "INPUT_THRESHOLD",
    "Conv",
    "Dense",
    "ModelFileError",
    "WeightSource",
    "available_models",
    "load_model",
    "save_model",
]
