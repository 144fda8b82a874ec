"""Layers mirroring Keras's, built on scratchconv's kernels."""

from .base import Layer
from .conv import Conv2D, DepthwiseConv2D, PointwiseConv2D, SeparableConv2D

__all__ = ["Layer", "Conv2D", "DepthwiseConv2D", "PointwiseConv2D", "SeparableConv2D"]
