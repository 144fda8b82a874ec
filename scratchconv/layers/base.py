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

Per-weight regularizers and constraints come as Keras's keyword arguments, named by the weight's
prefix in ``WEIGHT_ARGS``: ``Conv2D(..., kernel_regularizer="l2", bias_constraint=NonNeg())``.
They are kept in ``layer.regularizers`` / ``layer.constraints`` ({prefix: object}) and applied by
``Sequential.train_step`` (see ``scratchconv.layers.regularizers``).
"""

import numpy as np

from ..kernels.arguments import FLOAT_DTYPES
from .regularizers import get_constraint, get_regularizer


class Layer:
    WEIGHT_ARGS = ()  # Keras's argument prefix of each weight, get_weights() order: ('kernel', 'bias')

    def __init__(self, *, name=None, dtype="float32", input_shape=None, trainable=True, **per_weight):
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
        self.regularizers, self.constraints = self._per_weight_arguments(per_weight)

    def _per_weight_arguments(self, arguments):
        """({prefix: Regularizer}, {prefix: Constraint}) from kernel_regularizer=..., bias_constraint=..."""
        if arguments.get("activity_regularizer") is not None:
            raise ValueError(f"{type(self).__name__}: activity_regularizer is not supported (scratchconv "
                             f"regularizes weights only); remove it")
        regularizers, constraints = {}, {}
        for key, value in arguments.items():
            prefix, _, kind = key.rpartition("_")
            if kind not in ("regularizer", "constraint") or prefix not in self.WEIGHT_ARGS + ("activity",):
                allowed = [f"{p}_{k}" for p in self.WEIGHT_ARGS for k in ("regularizer", "constraint")]
                raise TypeError(f"{type(self).__name__} got an unexpected keyword argument {key!r}"
                                + (f"; its per-weight arguments are {allowed}" if allowed else ""))
            if value is None or prefix == "activity":
                continue
            if kind == "regularizer":
                regularizers[prefix] = get_regularizer(value)
            else:
                constraints[prefix] = get_constraint(value)
        return regularizers, constraints

    @property
    def weight_prefixes(self):
        """Keras's argument prefix of each array in ``weights`` (a layer whose weights depend on its
        options, beyond a missing bias at the end, overrides this)."""
        return self.WEIGHT_ARGS[: len(self.weights)]

    def regularization(self, gradients=True):
        """The sum of the regularizers' penalties on the trainable weights (0.0 when there are none or
        the layer is frozen); with gradients=True, adds each one's gradient to its weight's (in place)."""
        total = 0.0
        if not self.regularizers or not self.trainable:
            return total
        for i, prefix in enumerate(self.weight_prefixes[: len(self.gradients)]):
            if prefix in self.regularizers:
                penalty, gradient = self.regularizers[prefix].penalty_and_gradient(self.weights[i])
                if gradients:
                    self.gradients[i] += gradient
                total += float(penalty)
        return total

    def apply_constraints(self):
        """Projects each constrained trainable weight in place (after an optimizer step, as Keras)."""
        if not self.constraints or not self.trainable:
            return
        for i, prefix in enumerate(self.weight_prefixes[: len(self.gradients)]):
            if prefix in self.constraints:
                self.weights[i][...] = self.constraints[prefix](self.weights[i])

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
