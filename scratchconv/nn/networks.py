"""The article's Fashion-MNIST network, built from scratchconv layers.

    Conv2D(32, 3, 'same', selu, input 28x28x1)
    SeparableConv2D(32) -> MaxPool2D(2)
    SeparableConv2D(64) x2 -> MaxPool2D(2)
    SeparableConv2D(128) x2 -> MaxPool2D(2)
    Flatten -> Dense(128, selu) -> Dense(10, softmax)

kind='standard' swaps every SeparableConv2D for a Conv2D: 435,306 parameters vs 184,234.
"""

import numpy as np

from ..layers import Conv2D, SeparableConv2D
from ..layers.core import Dense, Flatten, MaxPool2D
from .model import Sequential

KINDS = ("separable", "standard")


def fashion_mnist_model(kind="separable", seed=None, dtype="float32"):
    """The article's network; weights drawn (glorot_uniform, zero biases) from one seeded stream."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)  # shared by every layer, drawn in layer order
    conv = SeparableConv2D if kind == "separable" else Conv2D
    common = dict(kernel_size=3, padding="same", activation="selu", seed=rng, dtype=dtype)
    layers = [Conv2D(32, input_shape=(28, 28, 1), **common), conv(32, **common), MaxPool2D(2, dtype=dtype)]
    for filters in (64, 128):
        layers += [conv(filters, **common), conv(filters, **common), MaxPool2D(2, dtype=dtype)]
    layers += [Flatten(dtype=dtype), Dense(128, activation="selu", seed=rng, dtype=dtype),
               Dense(10, activation="softmax", seed=rng, dtype=dtype)]
    model = Sequential(layers, name=f"fashion_mnist_{kind}")
    model.build()
    return model
