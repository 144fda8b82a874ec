"""SGD and Adam, with Keras 3's defaults and exactly its update formulas.

Every quantity is computed in the weight's dtype, in place on the live weight arrays. Where
Keras writes ``ops.cast(python_float, variable.dtype)`` (SGD's momentum, Adam's beta_1 and
beta_2 in the bias correction), TensorFlow first makes a float32 tensor of the Python float and
then casts it, so a float64 model uses float64(float32(0.9)); ``keras_cast`` does the same.

SGD (``keras.optimizers.SGD``, learning_rate=0.01, momentum=0.0, nesterov=False):

    momentum == 0:  w <- w - lr * g
    otherwise:      m <- momentum * m - lr * g
                    w <- w + m                              (nesterov=False)
                    w <- w + momentum * m - lr * g          (nesterov=True, with the new m)

Adam (``keras.optimizers.Adam``, 0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7), step t = 1, 2, ...:

    alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)        (bias correction folded into the step)
    m <- m + (g - m) * (1 - beta_1)
    v <- v + (g^2 - v) * (1 - beta_2)
    w <- w - m * alpha / (sqrt(v) + epsilon)                 (epsilon outside the correction, as Keras)
"""

import numpy as np


def keras_cast(value, dtype):
    """``keras.ops.cast(value, dtype)`` of a Python float on TensorFlow: through float32."""
    return dtype.type(np.float32(value))


class Optimizer:
    """Holds the hyper-parameters, the step count and one list of slot arrays per weight."""

    name = None
    slot_names = ()

    def __init__(self, learning_rate):
        self.learning_rate = _positive_float(learning_rate, "learning_rate")
        self.iterations = 0
        self.slots = None  # slots[k][i]: slot k of weight i, same shape and dtype

    def build(self, weights):
        self.slots = [[np.zeros_like(w) for w in weights] for _ in self.slot_names]

    def apply_gradients(self, grads_and_vars):
        """Keras's ``optimizer.apply_gradients(zip(grads, weights))``: one step, in place."""
        grads, weights = zip(*grads_and_vars)
        self.apply(list(weights), list(grads))

    def apply(self, weights, gradients):
        """Update every weight array in place from its gradient; iterations += 1 afterwards."""
        if self.slots is None:
            self.build(weights)
        for i, (w, g) in enumerate(zip(weights, gradients)):
            self.update(i, w, np.asarray(g, dtype=w.dtype))
        self.iterations += 1

    def update(self, i, w, g):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    def get_state(self):
        """What a checkpoint must hold to continue exactly: the step count and the slots."""
        return {"iterations": self.iterations, "slots": [list(s) for s in (self.slots or [])]}

    def set_state(self, state):
        self.iterations = int(state["iterations"])
        self.slots = [[np.array(a) for a in s] for s in state["slots"]] or None


class SGD(Optimizer):
    name = "SGD"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        super().__init__(learning_rate)
        momentum = float(momentum)
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.momentum = momentum
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if momentum != 0 else ()

    def update(self, i, w, g):
        lr = w.dtype.type(self.learning_rate)
        if self.momentum == 0:
            w -= g * lr
            return
        momentum = keras_cast(self.momentum, w.dtype)
        m = self.slots[0][i]
        m[...] = m * momentum - g * lr
        if self.nesterov:
            w += m * momentum - g * lr
        else:
            w += m

    def get_config(self):
        return {"name": self.name, "learning_rate": self.learning_rate, "momentum": self.momentum,
                "nesterov": self.nesterov}


class Adam(Optimizer):
    name = "Adam"
    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(learning_rate)
        for value, name in ((beta_1, "beta_1"), (beta_2, "beta_2")):
            if not 0 <= float(value) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon = _positive_float(epsilon, "epsilon")

    def update(self, i, w, g):
        t = w.dtype.type
        step = t(self.iterations + 1)
        beta_1, beta_2 = keras_cast(self.beta_1, w.dtype), keras_cast(self.beta_2, w.dtype)
        alpha = t(self.learning_rate) * np.sqrt(1 - beta_2**step) / (1 - beta_1**step)
        m, v = self.slots[0][i], self.slots[1][i]
        m += (g - m) * t(1 - self.beta_1)
        v += (np.square(g) - v) * t(1 - self.beta_2)
        w -= (m * alpha) / (np.sqrt(v) + t(self.epsilon))

    def get_config(self):
        return {"name": self.name, "learning_rate": self.learning_rate, "beta_1": self.beta_1,
                "beta_2": self.beta_2, "epsilon": self.epsilon}


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


# The hyper-parameters read from a Keras optimizer's get_config().
KERAS_KEYS = {"sgd": ("learning_rate", "momentum", "nesterov"),
              "adam": ("learning_rate", "beta_1", "beta_2", "epsilon")}


def get(identifier):
    """An optimizer from Keras's string name ('sgd', 'adam'), a config dict, an Optimizer, or a
    Keras SGD/Adam object (its hyper-parameters; Keras is not imported for this)."""
    if isinstance(identifier, Optimizer):
        return identifier
    name = type(identifier).__name__.lower()
    if type(identifier).__module__.startswith("keras") and name in KERAS_KEYS:
        config = identifier.get_config()
        if not isinstance(config.get("learning_rate"), float):
            raise ValueError("a Keras optimizer with a learning-rate schedule cannot be converted")
        return OPTIMIZERS[name](**{key: config[key] for key in KERAS_KEYS[name]})
    if isinstance(identifier, str) and identifier.lower() in OPTIMIZERS:
        return OPTIMIZERS[identifier.lower()]()
    if isinstance(identifier, dict) and str(identifier.get("name", "")).lower() in OPTIMIZERS:
        config = dict(identifier)
        return OPTIMIZERS[config.pop("name").lower()](**config)
    raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)} or a scratchconv.nn.optimizers.Optimizer, "
                     f"got {identifier!r}")


def _positive_float(value, name):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value
