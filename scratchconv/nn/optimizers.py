"""SGD, Adam, AdamW and RMSprop, with Keras 3's defaults and exactly its update formulas.

Every quantity is computed in the weight's dtype, in place on the live weight arrays. Where
Keras writes ``ops.cast(python_float, variable.dtype)`` (SGD's momentum, Adam's beta_1 and
beta_2 in the bias correction, the weight decay), TensorFlow first makes a float32 tensor of
the Python float and then casts it, so a float64 model uses float64(float32(0.9)); ``keras_cast``
does the same. A Python float met in arithmetic (``1 - beta_1``, RMSprop's rho) is converted
straight to the weight's dtype.

One step, ``optimizer.apply(weights, gradients)``, in Keras's order:

    lr = learning_rate, or schedule(iterations) when it is a schedule (see ``schedules``)
    1. clip the gradients:  clipnorm:        g <- g * c / max(||g||, c)          (each gradient)
                            global_clipnorm: g <- g * c * min(1 / ||all g||, 1 / c)
                            clipvalue:       g <- clip(g, -c, c)
    2. weight decay:        w <- w - w * weight_decay * lr                      (every weight, biases too)
    3. the update below, from the clipped g;  iterations += 1
    (constraints are projected afterwards by the model: ``Sequential.train_step``)

SGD (``keras.optimizers.SGD``, learning_rate=0.01, momentum=0.0, nesterov=False):

    momentum == 0:  w <- w - lr * g
    otherwise:      m <- momentum * m - lr * g
                    w <- w + m                              (nesterov=False)
                    w <- w + momentum * m - lr * g          (nesterov=True, with the new m)

Adam (``keras.optimizers.Adam``, 0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7), step t = 1, 2, ...:

    alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)        (bias correction folded into the step)
    m <- m + (g - m) * (1 - beta_1)
    v <- v + (g^2 - v) * (1 - beta_2)
    v_hat <- max(v_hat, v), used in place of v              (amsgrad=True only)
    w <- w - m * alpha / (sqrt(v) + epsilon)                 (epsilon outside the correction, as Keras)

AdamW (``keras.optimizers.AdamW``): Adam with weight_decay=0.004 by default (step 2 above).

RMSprop (``keras.optimizers.RMSprop``, 0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):

    v <- rho * v + (1 - rho) * g^2
    a <- rho * a + (1 - rho) * g,  denominator = v - a^2 + epsilon     (centered=True)
                                   denominator = v + epsilon           (centered=False)
    increment = lr * g / sqrt(denominator)
    momentum > 0:  m <- momentum * m + increment,  w <- w - m;   else  w <- w - increment
"""

import numpy as np

from ..layers.regularizers import keras_cast  # noqa: F401  (float32 first, as Keras's ops.cast)
from . import schedules


class Optimizer:
    """Holds the hyper-parameters, the step count and one list of slot arrays per weight."""

    name = None
    slot_names = ()
    ARGS = ()  # the subclass's own hyper-parameters, in get_config()

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None):
        if isinstance(learning_rate, (int, float, np.floating, np.integer)):
            self.learning_rate = _positive_float(learning_rate, "learning_rate")
        else:  # a schedule: scratchconv's, a Keras one, or its serialised dict
            self.learning_rate = schedules.get(learning_rate)
        self.weight_decay = None if weight_decay is None else _non_negative_float(weight_decay, "weight_decay")
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(value is not None for value in clips.values()) > 1:
            raise ValueError(f"only one of clipnorm, clipvalue and global_clipnorm can be set, got {clips}")
        for key, value in clips.items():
            setattr(self, key, None if value is None or value == 0 else _positive_float(value, key))  # 0: off
        self.iterations = 0
        self.slots = None  # slots[k][i]: slot k of weight i, same shape and dtype

    def build(self, weights):
        self.slots = [[np.zeros_like(w) for w in weights] for _ in self.slot_names]

    def current_learning_rate(self):
        """The learning rate of the next step: a float, or the schedule's np.float32 at ``iterations``."""
        if isinstance(self.learning_rate, schedules.LearningRateSchedule):
            return self.learning_rate(self.iterations)
        return self.learning_rate

    def apply_gradients(self, grads_and_vars):
        """Keras's ``optimizer.apply_gradients(zip(grads, weights))``: one step, in place."""
        grads, weights = zip(*grads_and_vars)
        self.apply(list(weights), list(grads))

    def apply(self, weights, gradients):
        """Update every weight array in place from its gradient; iterations += 1 afterwards."""
        if self.slots is None:
            self.build(weights)
        gradients = self.clip([np.asarray(g, dtype=w.dtype) for w, g in zip(weights, gradients)])
        lr = self.current_learning_rate()
        if self.weight_decay is not None:
            for w in weights:
                w -= w * keras_cast(self.weight_decay, w.dtype) * w.dtype.type(lr)
        for i, (w, g) in enumerate(zip(weights, gradients)):
            self.update(i, w, g, w.dtype.type(lr))
        self.iterations += 1

    def clip(self, gradients):
        """Keras's ``_clip_gradients``: clipnorm (tf.clip_by_norm), global_clipnorm or clipvalue."""
        if self.clipnorm is not None:
            out = []
            for g in gradients:
                c = g.dtype.type(self.clipnorm)
                norm = np.sqrt(np.sum(np.square(g)))
                out.append(g * c / max(norm, c))
            return out
        if self.global_clipnorm is not None and gradients:
            t = gradients[0].dtype.type
            norm = np.sqrt(sum(np.sum(np.square(g)) for g in gradients))
            scale = t(self.global_clipnorm) * min(t(1) / norm, t(1 / self.global_clipnorm)) + (norm - norm)
            return [g * scale for g in gradients]
        if self.clipvalue is not None:
            return [np.clip(g, -self.clipvalue, self.clipvalue).astype(g.dtype, copy=False) for g in gradients]
        return gradients

    def update(self, i, w, g, lr):
        """One weight's update, in place; lr is already in w's dtype."""
        raise NotImplementedError

    def get_config(self):
        """Keras's keys: name, learning_rate (a float or the schedule's serialised dict), the
        hyper-parameters, weight_decay and the clipping values (None when unset)."""
        lr = self.learning_rate
        config = {"name": self.name, "learning_rate": lr if isinstance(lr, float) else lr.get_config()}
        config.update({key: getattr(self, key) for key in self.ARGS})
        config.update(weight_decay=self.weight_decay, clipnorm=self.clipnorm, global_clipnorm=self.global_clipnorm,
                      clipvalue=self.clipvalue)
        return config

    def get_state(self):
        """What a checkpoint must hold to continue exactly: the step count and the slots."""
        return {"iterations": self.iterations, "slots": [list(s) for s in (self.slots or [])]}

    def set_state(self, state):
        self.iterations = int(state["iterations"])
        self.slots = [[np.array(a) for a in s] for s in state["slots"]] or None


class SGD(Optimizer):
    name = "SGD"
    ARGS = ("momentum", "nesterov")

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **common):
        super().__init__(learning_rate, **common)
        momentum = float(momentum)
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.momentum = momentum
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if momentum != 0 else ()

    def update(self, i, w, g, lr):
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


class Adam(Optimizer):
    name = "Adam"
    ARGS = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **common):
        super().__init__(learning_rate, **common)
        for value, name in ((beta_1, "beta_1"), (beta_2, "beta_2")):
            if not 0 <= float(value) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon = _positive_float(epsilon, "epsilon")
        self.amsgrad = bool(amsgrad)
        self.slot_names = ("m", "v", "v_hat") if self.amsgrad else ("m", "v")

    def update(self, i, w, g, lr):
        t = w.dtype.type
        step = t(self.iterations + 1)
        beta_1, beta_2 = keras_cast(self.beta_1, w.dtype), keras_cast(self.beta_2, w.dtype)
        alpha = lr * np.sqrt(1 - beta_2**step) / (1 - beta_1**step)
        m, v = self.slots[0][i], self.slots[1][i]
        m += (g - m) * t(1 - self.beta_1)
        v += (np.square(g) - v) * t(1 - self.beta_2)
        if self.amsgrad:
            v_hat = self.slots[2][i]
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        w -= (m * alpha) / (np.sqrt(v) + t(self.epsilon))


class AdamW(Adam):
    name = "AdamW"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **common):
        if weight_decay is None:
            raise ValueError("AdamW needs a weight_decay (Keras refuses None too); use Adam for none")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **common)


class RMSprop(Optimizer):
    name = "RMSprop"
    ARGS = ("rho", "momentum", "epsilon", "centered")

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **common):
        super().__init__(learning_rate, **common)
        self.rho, self.momentum = float(rho), float(momentum)
        if not 0 <= self.rho < 1 or self.momentum < 0:
            raise ValueError(f"rho must be in [0, 1) and momentum >= 0, got rho={rho}, momentum={momentum}")
        self.epsilon = _positive_float(epsilon, "epsilon")
        self.centered = bool(centered)
        self.slot_names = ("velocity",) + ("momentum",) * (self.momentum > 0) + ("average_gradient",) * self.centered

    def update(self, i, w, g, lr):
        t = w.dtype.type
        rho = t(self.rho)
        v = self.slots[0][i]
        v[...] = rho * v + t(1 - self.rho) * np.square(g)
        if self.centered:
            a = self.slots[-1][i]
            a[...] = rho * a + t(1 - self.rho) * g
            denominator = v - np.square(a) + t(self.epsilon)
        else:
            denominator = v + t(self.epsilon)
        increment = (lr * g) / np.sqrt(denominator)
        if self.momentum > 0:
            m = self.slots[1][i]
            m[...] = t(self.momentum) * m + increment
            w -= m
        else:
            w -= increment


OPTIMIZERS = {cls.name.lower(): cls for cls in (SGD, Adam, AdamW, RMSprop)}
COMMON_KEYS = ("learning_rate", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm")
KERAS_KEYS = {name: COMMON_KEYS + cls.ARGS for name, cls in OPTIMIZERS.items()}  # the keys read from Keras
# Keras's optimizer settings scratchconv does not implement, with the value that means "off".
KERAS_OFF = {"use_ema": False, "loss_scale_factor": None, "gradient_accumulation_steps": None}
KERAS_IGNORED = ("name", "ema_momentum", "ema_overwrite_frequency")  # meaningless while use_ema is off


def keras_problems(class_name, config):
    """Why a Keras optimizer (class name, get_config()) cannot be carried over; [] when it can."""
    if class_name.lower() not in OPTIMIZERS:
        return [f"optimizer {class_name} is not implemented; scratchconv has {[c.__name__ for c in OPTIMIZERS.values()]}"]
    problems = [f"optimizer {class_name} sets {key}={config[key]!r}, which scratchconv does not implement"
                for key, off in KERAS_OFF.items() if config.get(key, off) != off]
    lr = config.get("learning_rate")
    if isinstance(lr, dict) and lr.get("class_name") not in schedules.SCHEDULES:
        problems.append(f"optimizer {class_name}'s learning-rate schedule {lr.get('class_name')} is not "
                        f"implemented; scratchconv has {sorted(schedules.SCHEDULES)}")
    return problems


def from_keras_config(class_name, config):
    """Our optimizer for a Keras optimizer's class name and get_config(); ValueError if it cannot be."""
    problems = keras_problems(class_name, config)
    if problems:
        raise ValueError("; ".join(problems))
    cls = OPTIMIZERS[class_name.lower()]
    keys = COMMON_KEYS + cls.ARGS
    return cls(**{key: config[key] for key in keys if key in config and key not in KERAS_IGNORED})


def get(identifier):
    """An optimizer from Keras's string name ('sgd', 'adam', 'adamw', 'rmsprop'), a config dict
    (ours, ``get_config()``, or Keras's serialised ``{"class_name", "config"}``), an Optimizer, or a
    Keras optimizer object (its hyper-parameters; Keras is not imported for this)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if type(identifier).__module__.startswith("keras") and hasattr(identifier, "get_config"):
        return from_keras_config(type(identifier).__name__, identifier.get_config())
    if isinstance(identifier, str) and identifier.lower() in OPTIMIZERS:
        return OPTIMIZERS[identifier.lower()]()
    if isinstance(identifier, dict) and "class_name" in identifier:
        return from_keras_config(identifier["class_name"], identifier.get("config", {}))
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


def _non_negative_float(value, name):
    return 0.0 if value == 0 else _positive_float(value, name)
