"""Layers mirroring Keras's, built on scratchconv's kernels."""

from .base import Layer
from .conv import Conv2D, PointwiseConv2D
from .depthwise import DepthwiseConv2D, SeparableConv2D
from .core import Activation, Dense, Flatten, MaxPool2D
from .normalization import BatchNormalization

__all__ = ["Layer", "Conv2D", "DepthwiseConv2D", "PointwiseConv2D", "SeparableConv2D",
           "Activation", "Dense", "Flatten", "MaxPool2D"]
__all__ += ["BatchNormalization"]

from .pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, GlobalAvgPool2D, GlobalMaxPool2D,
                      GlobalMaxPooling2D)
from .reshaping import Cropping2D, Rescaling, Reshape, UpSampling2D, ZeroPadding2D
from .noise import Dropout, GaussianNoise, SpatialDropout2D

__all__ += ["AveragePooling2D", "AvgPool2D", "GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPooling2D",
            "GlobalMaxPool2D", "Cropping2D", "Rescaling", "Reshape", "UpSampling2D", "ZeroPadding2D",
            "Dropout", "GaussianNoise", "SpatialDropout2D"]

from .activation import ELU, LeakyReLU, ReLU, Softmax

__all__ += ["ELU", "LeakyReLU", "ReLU", "Softmax"]
