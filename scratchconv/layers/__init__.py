"""Layers mirroring Keras's, built on scratchconv's kernels."""

from .base import Layer
from .conv import Conv2D, PointwiseConv2D
from .depthwise import DepthwiseConv2D, SeparableConv2D
from .core import Activation, Dense, Flatten, MaxPool2D

__all__ = ["Layer", "Conv2D", "DepthwiseConv2D", "PointwiseConv2D", "SeparableConv2D",
           "Activation", "Dense", "Flatten", "MaxPool2D"]
