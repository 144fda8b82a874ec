"""The loop-by-loop versions of every kernel, under the public names.

    from scratchconv import naive
    y = naive.conv2d(x, kernel, bias, strides=2, padding="same")

Same signatures, same argument checks and same results as the fast versions in
``scratchconv``; written to be read and stepped through, not to be fast.
"""

from .kernels.standard import conv2d_naive as conv2d, conv2d_backward_naive as conv2d_backward
from .kernels.depthwise import (
    depthwise_conv2d_naive as depthwise_conv2d,
    depthwise_conv2d_backward_naive as depthwise_conv2d_backward,
)
from .kernels.pointwise import (
    pointwise_conv2d_naive as pointwise_conv2d,
    pointwise_conv2d_backward_naive as pointwise_conv2d_backward,
)
from .kernels.separable import (
    separable_conv2d_naive as separable_conv2d,
    separable_conv2d_backward_naive as separable_conv2d_backward,
)

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
