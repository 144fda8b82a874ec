"""Weight regularizers and constraints: Keras 3's ``keras.regularizers`` and ``keras.constraints``.

A layer takes them per weight, by Keras's argument names (``kernel_regularizer``,
``bias_constraint``, ``depthwise_regularizer``, ...: the weight's prefix from the layer's
``WEIGHT_ARGS`` + ``_regularizer`` / ``_constraint``), as a Keras object, Keras's serialised dict,
a name ('l1', 'l2', 'max_norm', 'non_neg', ...), or one of the classes below.

Regularizers add a penalty to the loss, computed on the weights *before* the step (Keras adds
``sum(model.losses)`` to the batch's mean loss once per batch), and its gradient to the weight's:

    L1(l1=0.01)         penalty = l1 * sum |w|                 gradient  l1 * sign(w)
    L2(l2=0.01)         penalty = l2 * sum w^2                 gradient  2 * l2 * w
    L1L2(l1=0, l2=0)    the sum of both                        ('l1l2': both 0, as Keras)

The factors go through float32 (Keras's ``ops.cast`` of a Python float; L1 even stores its
factor as a float32 tensor): ``keras_cast``. (This module sits with the layers, which take these
arguments; ``scratchconv.nn.regularizers`` is the same module.) Only trainable weights are penalised (Keras's
``layer._get_regularization_losses`` walks ``trainable_weights``).

Constraints project a weight after each optimizer step (Keras: ``variable.assign(constraint(variable))``);
norms are taken over ``axis`` (keepdims), eps = 1e-7:

    MaxNorm(max_value=2, axis=0)                         w * clip(n, 0, max_value) / (eps + n)
    NonNeg()                                             max(w, 0)
    UnitNorm(axis=0)                                     w / (eps + n)
    MinMaxNorm(min_value=0, max_value=1, rate=1, axis=0) w * (rate * clip(n, min, max) + (1 - rate) * n) / (eps + n)
"""

import numpy as np

EPSILON = 1e-7  # keras.config.epsilon()


def keras_cast(value, dtype):
    """``keras.ops.cast(value, dtype)`` of a Python float on TensorFlow: through float32
    (scratchconv.nn.optimizers uses it too)."""
    return dtype.type(np.float32(value))


class _KerasObject:
    """Shared: Keras's serialised form as the config, a readable repr."""

    MODULE = None
    ARGS = ()

    def get_config(self):
        return {"module": self.MODULE, "class_name": type(self).__name__,
                "config": {key: getattr(self, key) for key in self.ARGS}, "registered_name": None}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self.ARGS)})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()


# --------------------------------------------------------------------------- regularizers
class Regularizer(_KerasObject):
    MODULE = "keras.regularizers"

    def penalty_and_gradient(self, w):
        """(penalty: a scalar of w's dtype, d penalty / dw: an array like w)."""
        raise NotImplementedError

    def __call__(self, w):
        return self.penalty_and_gradient(w)[0]


class L1L2(Regularizer):
    ARGS = ("l1", "l2")

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = _factor(l1, "l1"), _factor(l2, "l2")

    def penalty_and_gradient(self, w):
        penalty, gradient = w.dtype.type(0), np.zeros_like(w)
        if self.l1 != 0:
            l1 = keras_cast(self.l1, w.dtype)
            penalty, gradient = penalty + l1 * np.sum(np.abs(w)), gradient + l1 * np.sign(w)
        if self.l2 != 0:
            l2 = keras_cast(self.l2, w.dtype)
            penalty, gradient = penalty + l2 * np.sum(np.square(w)), gradient + (2 * l2) * w
        return penalty, gradient


class L1(L1L2):
    ARGS = ("l1",)

    def __init__(self, l1=0.01):
        super().__init__(l1=0.01 if l1 is None else l1)


class L2(L1L2):
    ARGS = ("l2",)

    def __init__(self, l2=0.01):
        super().__init__(l2=0.01 if l2 is None else l2)


REGULARIZERS = {"L1": L1, "L2": L2, "L1L2": L1L2, "l1": L1, "l2": L2, "l1l2": L1L2}


# --------------------------------------------------------------------------- constraints
class Constraint(_KerasObject):
    MODULE = "keras.constraints"

    def __call__(self, w):
        raise NotImplementedError

    def _norms(self, w):
        axis = tuple(self.axis) if isinstance(self.axis, (list, tuple)) else self.axis  # Keras takes lists
        return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))  # w's shape, 1 along axis


class MaxNorm(Constraint):
    ARGS = ("max_value", "axis")

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        t, norms = w.dtype.type, self._norms(w)
        return w * (np.clip(norms, 0, t(self.max_value)) / (t(EPSILON) + norms))


class NonNeg(Constraint):
    def __call__(self, w):
        return np.maximum(w, w.dtype.type(0))


class UnitNorm(Constraint):
    ARGS = ("axis",)

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return w / (w.dtype.type(EPSILON) + self._norms(w))


class MinMaxNorm(Constraint):
    ARGS = ("min_value", "max_value", "rate", "axis")

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        t, norms = w.dtype.type, self._norms(w)
        desired = t(self.rate) * np.clip(norms, t(self.min_value), t(self.max_value)) + t(1 - self.rate) * norms
        return w * (desired / (t(EPSILON) + norms))


CONSTRAINTS = {"MaxNorm": MaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm, "MinMaxNorm": MinMaxNorm,
               "max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm, "min_max_norm": MinMaxNorm}


# --------------------------------------------------------------------------- lookup
def _get(identifier, table, base, kind):
    if identifier is None or isinstance(identifier, base):
        return identifier
    if type(identifier).__module__.startswith("keras") and hasattr(identifier, "get_config"):
        identifier = {"class_name": type(identifier).__name__, "config": identifier.get_config()}
    if isinstance(identifier, str) and identifier in table:
        return table[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in table:
        return table[identifier["class_name"]](**(identifier.get("config") or {}))
    name = identifier.get("class_name") if isinstance(identifier, dict) else identifier
    raise ValueError(f"{kind} {name!r} is not supported; scratchconv has {sorted(k for k in table if k[0].isupper())}")


def get_regularizer(identifier):
    """None, or the Regularizer for a Keras regularizer object, its serialised dict, a name or a Regularizer."""
    return _get(identifier, REGULARIZERS, Regularizer, "regularizer")


def get_constraint(identifier):
    """None, or the Constraint for a Keras constraint object, its serialised dict, a name or a Constraint."""
    return _get(identifier, CONSTRAINTS, Constraint, "constraint")


def _factor(value, name):
    value = float(value)
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value
