"""The Layer interface every scratchconv layer follows.

A layer mirrors its Keras twin:

    layer.build(input_shape)            # input_shape with the batch axis, e.g. (None, 28, 28, 1)
    y = layer.forward(x)                # keeps what backward needs
    dx = layer.backward(dy)             # fills layer.gradients, same order as get_weights()
    layer.get_weights() / set_weights() # exactly the arrays Keras's get_weights() returns
    layer.compute_output_shape(input_shape), layer.count_params()

``layer.weights`` holds the live arrays in Keras's ``get_weights()`` order (optimizers update
them in place). The first ``len(layer.gradients)`` of them are trainable and ``layer.gradients``
holds their gradients after the last ``backward``; any after those are the layer's state, which
``forward(x, training=True)`` updates itself (BatchNormalization's moving mean and variance),
as Keras's non-trainable weights. ``layer.trainable = False`` freezes a layer as in Keras: its
weights take no optimizer step (its backward still returns dx).
"""

import numpy as np

from ..kernels.arguments import FLOAT_DTYPES


class Layer:
    WEIGHT_ARGS = ()  # Keras's argument prefix of each weight, get_weights() order: ('kernel', 'bias')

    def __init__(self, *, name=None, dtype="float32", input_shape=None, trainable=True):
        dtype = np.dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        self.dtype = dtype
        self.name = name or type(self).__name__.lower()
        self.weights = []
        self.gradients = []
        self.built = False
        if not isinstance(trainable, (bool, np.bool_)):
            raise TypeError(f"trainable must be True or False, got {trainable!r}")
        self.trainable = bool(trainable)
        self.input_shape = None if input_shape is None else (None, *tuple(input_shape))

    # --- subclasses implement these -------------------------------------------------
    def build(self, input_shape):
        self.input_shape = tuple(input_shape)
        self.built = True

    def forward(self, x, training=False):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    # --- shared -------------------------------------------------------------------------
    @property
    def trainable_weights(self):
        """The weights an optimizer updates: those with a gradient, none when frozen."""
        return self.weights[: len(self.gradients)] if self.trainable else []

    @property
    def trainable_gradients(self):
        return self.gradients if self.trainable else []

    @property
    def non_trainable_weights(self):
        return self.weights[len(self.trainable_weights):]

    def __call__(self, x, training=False):
        if not self.built:
            self.build((None, *np.shape(x)[1:]))
        return self.forward(x, training=training)

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        if not self.built:
            raise ValueError(f"layer {self.name!r} is not built yet: call build(input_shape) first")
        weights = list(weights)
        if len(weights) != len(self.weights):
            raise ValueError(
                f"layer {self.name!r} expects {len(self.weights)} weight arrays "
                f"(shapes {[w.shape for w in self.weights]}), got {len(weights)}"
            )
        for i, (live, new) in enumerate(zip(self.weights, weights)):
            new = np.asarray(new)
            if new.shape != live.shape:
                raise ValueError(
                    f"layer {self.name!r} weight {i} must have shape {live.shape}, got {new.shape}"
                )
            live[...] = new  # in place: optimizers hold references to the live arrays

    def count_params(self):
        if not self.built:
            raise ValueError(f"layer {self.name!r} is not built yet: call build(input_shape) first")
        return int(sum(w.size for w in self.weights))

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"
