"""BNN inference engine (pipeline layer 3): bit-packed XNOR-popcount layers fed by approximate memory."""

from memsim.bnn.layers import Conv, Dense
from memsim.bnn.modelfile import ModelFileError, available_models, load_model, save_model
from memsim.bnn.network import ARCHITECTURES, BNN

__all__ = ["ARCHITECTURES", "BNN", "Conv", "Dense", "ModelFileError", "available_models", "load_model", "save_model"]
