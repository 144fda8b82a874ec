"""scratchconv: convolution from scratch in NumPy and Numba, proven equal to Keras.

Public kernels (NHWC, Keras weight layouts, float32 by default, float64 supported):

    conv2d, depthwise_conv2d, pointwise_conv2d, separable_conv2d
    conv2d_backward, depthwise_conv2d_backward, pointwise_conv2d_backward, separable_conv2d_backward

``scratchconv.naive`` has the same names: the loop-by-loop versions to read and step through.

The package is laid out as its architecture, each layer built on the one before:

    scratchconv.kernels   one module per kind of convolution (with its loop twin), pooling, activations
    scratchconv.layers    Keras-like layers on the kernels
    scratchconv.nn        Sequential models, losses, optimizers, training
    scratchconv.cli       the ``scratchconv`` command;  beside them: data, bench, params

``layers``, ``nn``, ``naive``, ``params``, ``data``, ``bench`` and ``cli`` are attributes of the
package, loaded on first use (PEP 562): ``import scratchconv`` loads only the kernels and never
TensorFlow.
"""

import os

# OpenBLAS's idle threads spin for a while after each matrix product, and on a small machine
# they then steal the cores the next Numba kernel needs. OPENBLAS_THREAD_TIMEOUT=4 (the
# minimum) puts them to sleep almost at once. Measured on 2 vCPUs, one separable Fashion-MNIST
# training step (batch 32): 35.7-38.6 ms with one OpenBLAS thread, 35.7-46.4 ms with two, 29.5-34.5
# ms with two and this setting. Only a default (set it yourself to override), and only effective
# when scratchconv is imported before NumPy loads OpenBLAS (the `scratchconv` command always is).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import importlib  # noqa: E402

from .kernels.standard import conv2d, conv2d_backward  # noqa: E402
from .kernels.depthwise import depthwise_conv2d, depthwise_conv2d_backward  # noqa: E402
from .kernels.pointwise import pointwise_conv2d, pointwise_conv2d_backward  # noqa: E402
from .kernels.separable import separable_conv2d, separable_conv2d_backward  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "conv2d",
    "conv2d_backward",
    "depthwise_conv2d",
    "depthwise_conv2d_backward",
    "pointwise_conv2d",
    "pointwise_conv2d_backward",
    "separable_conv2d",
    "separable_conv2d_backward",
]

# Subpackages loaded on first attribute access (PEP 562), as ``numpy.linalg`` after ``import numpy``.
_LAZY_SUBMODULES = ("bench", "cli", "data", "layers", "naive", "nn", "params")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f".{name}", __name__)  # the import also sets it as an attribute
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
