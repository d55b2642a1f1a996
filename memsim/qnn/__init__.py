"""A user's own PyTorch network with m-bit weights in an approximate memory (needs the ``train`` extra).

:func:`from_torch` takes any ``torch.nn.Module``; the weights of its ``Linear``, ``Conv1d`` and
``Conv2d`` layers become m-bit codes (:mod:`memsim.memory.quant`) that an
:class:`~memsim.ApproximateMemory` holds, and everything else (biases, batch norm, activations,
pooling, residual adds) runs exactly as the module defines it. A forward with fresh flips per
image adds, to each stored layer's clean batched output, every image's correction for the
weights its own reads got wrong (:class:`QNN`); :meth:`QNN.materialize` builds the module one
image saw, the naive twin the corrections are tested against.

``import memsim`` never imports this package (nor torch).
"""

from memsim.qnn.network import QNN, from_torch, load_qnn

__all__ = ["QNN", "from_torch", "load_qnn"]
