"""scratchconv: convolution from scratch in NumPy and Numba, proven equal to Keras.

Public kernels (NHWC, Keras weight layouts, float32 by default, float64 supported):

    conv2d, depthwise_conv2d, pointwise_conv2d, separable_conv2d
    conv2d_backward, depthwise_conv2d_backward, pointwise_conv2d_backward, separable_conv2d_backward

``scratchconv.naive`` has the same names: the loop-by-loop versions to read and step through.
"""

from .standard import conv2d, conv2d_backward
from .depthwise import depthwise_conv2d, depthwise_conv2d_backward
from .pointwise import pointwise_conv2d, pointwise_conv2d_backward
from .separable import separable_conv2d, separable_conv2d_backward

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
