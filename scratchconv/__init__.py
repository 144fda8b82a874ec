"""scratchconv: convolution from scratch in NumPy and Numba, proven equal to Keras.

Public kernels (NHWC, Keras weight layouts, float32 by default, float64 supported):

    conv2d, depthwise_conv2d, pointwise_conv2d, separable_conv2d
    conv2d_backward, depthwise_conv2d_backward, pointwise_conv2d_backward, separable_conv2d_backward

``scratchconv.naive`` has the same names: the loop-by-loop versions to read and step through.
"""

import os

# OpenBLAS's idle threads spin for a while after each matrix product, and on a small machine
# they then steal the cores the next Numba kernel needs. OPENBLAS_THREAD_TIMEOUT=4 (the
# minimum) puts them to sleep almost at once. Measured on 2 vCPUs, one separable Fashion-MNIST
# training step (batch 32): 35.7-38.6 ms with one OpenBLAS thread, 35.7-46.4 ms with two, 29.5-34.5
# ms with two and this setting. Only a default (set it yourself to override), and only effective
# when scratchconv is imported before NumPy loads OpenBLAS (the `scratchconv` command always is).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from .standard import conv2d, conv2d_backward  # noqa: E402
from .depthwise import depthwise_conv2d, depthwise_conv2d_backward  # noqa: E402
from .pointwise import pointwise_conv2d, pointwise_conv2d_backward  # noqa: E402
from .separable import separable_conv2d, separable_conv2d_backward  # noqa: E402

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
