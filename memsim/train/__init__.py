"""Training BNNs for bit error tolerance with torch (the ``train`` extra), and export to the engine.

Nothing on the inference path imports this package; install torch with
``pip install torch==2.13.0`` (the CPU build) or ``pip install "memsim[train]"``.
"""

try:
    import torch  # noqa: F401
except ImportError as err:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "memsim.train needs torch: pip install torch==2.13.0 (CPU build), or pip install 'memsim[train]'"
    ) from err

from memsim.train.layers import BinaryConv2d, BinaryLinear, FlipInjector, sign_ste
from memsim.train.model import TorchBNN, binarize_input, export_bnn, fold_batchnorm, import_bnn, modified_hinge_loss
from memsim.train.trainer import TrainConfig, TrainResult, random_shift, recalibrate_batchnorm, train

__all__ = [
    "BinaryConv2d",
    "BinaryLinear",
    "FlipInjector",
    "TorchBNN",
    "TrainConfig",
    "TrainResult",
    "binarize_input",
    "export_bnn",
    "fold_batchnorm",
    "import_bnn",
    "modified_hinge_loss",
    "random_shift",
    "recalibrate_batchnorm",
    "sign_ste",
    "train",
]
