"""The article's two networks, built from scratchconv layers.

The Fashion-MNIST network (``fashion_mnist_model``):

    Conv2D(32, 3, 'same', selu, input 28x28x1)
    SeparableConv2D(32) -> MaxPool2D(2)
    SeparableConv2D(64) x2 -> MaxPool2D(2)
    SeparableConv2D(128) x2 -> MaxPool2D(2)
    Flatten -> Dense(128, selu) -> Dense(10, softmax)

kind='standard' swaps every SeparableConv2D for a Conv2D: 435,306 parameters vs 184,234.

The 10 Monkey Species network (``monkeys_model``; as ``reference.monkeys.build_model``):

    Conv2D(32, 3, 'same', relu, input 128x128x3), Conv2D(32) -> MaxPool2D(2)
    Conv2D(64) x2 -> MaxPool2D(2)
    Conv2D(128) x2 -> MaxPool2D(2)
    Flatten -> Dense(128, relu) -> Dense(10, softmax)

4,482,730 parameters; kind='separable' keeps the first Conv2D and swaps the others for
SeparableConv2D.
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


def monkeys_model(kind="standard", seed=None, dtype="float32", num_classes=10, image_size=(128, 128)):
    """The article's 10-monkeys CNN (kind 'standard', as the article) or its separable version."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)  # shared by every layer, drawn in layer order
    conv = SeparableConv2D if kind == "separable" else Conv2D
    common = dict(kernel_size=3, padding="same", activation="relu", seed=rng, dtype=dtype)
    layers = [Conv2D(32, input_shape=(*image_size, 3), **common), conv(32, **common), MaxPool2D(2, dtype=dtype)]
    for filters in (64, 128):
        layers += [conv(filters, **common), conv(filters, **common), MaxPool2D(2, dtype=dtype)]
    layers += [Flatten(dtype=dtype), Dense(128, activation="relu", seed=rng, dtype=dtype),
               Dense(num_classes, activation="softmax", seed=rng, dtype=dtype)]
    model = Sequential(layers, name=f"monkeys_{kind}")
    model.build()
    return model
