"""Cross-entropy losses and accuracy, with Keras's names, formulas and reduction.

Keras reduces a loss with 'sum_over_batch_size': the batch loss is the mean of the per-sample
losses, so every gradient below carries a 1/N.

Two paths, as in Keras's TensorFlow backend:

- fused, from the logits z when the last layer ends in softmax (Keras takes the logits
  cached on the softmax output and calls ``tf.nn.*softmax_cross_entropy_with_logits``):

      loss_i = logsumexp(z_i) - sum_k t_ik z_ik       (t one-hot; sparse: z_i[y_i])
      dL/dz_i = (softmax(z_i) * sum_k t_ik - t_i) / N

  stable for any z (z is shifted by its row maximum before exp);
- from probabilities p otherwise, with Keras's clipping to [eps, 1 - eps], eps = 1e-7:

      sparse:      loss_i = log(sum_k pc_ik) - log(pc_i,y_i)     pc = clip(p)
      categorical: loss_i = -sum_k t_ik log(clip(p_ik / sum_j p_ij))

  where the clip is active the gradient is 0, as ``tf.clip_by_value``'s.

``from_logits=True`` (Keras's argument): the model's outputs are the logits themselves (a last
layer without softmax), and the loss is the fused formula above applied to them. A softmax last
layer is fused all the same: Keras then takes the logits cached on the softmax output too
(``_get_logits`` in its TensorFlow backend, with a warning that from_logits=True looks unintended).
"""

import numpy as np

EPSILON = 1e-7  # keras.config.epsilon()


class Loss:
    """A loss: target checks, the fused path from logits and the plain path from probabilities."""

    name = None
    sparse = None

    def __init__(self, from_logits=False):
        if not isinstance(from_logits, (bool, np.bool_)):
            raise TypeError(f"from_logits must be True or False, got {from_logits!r}")
        self.takes_logits = bool(from_logits)  # Keras's from_logits (the name `from_logits` is the method)

    def get_config(self):
        return {"name": self.name, "from_logits": self.takes_logits}

    def from_outputs(self, y, targets):
        """(per-sample losses, dL/dy) for the model's outputs y: logits or probabilities, as configured."""
        return self.from_logits(y, targets) if self.takes_logits else self.from_probabilities(y, targets)

    def check_targets(self, y, n_samples, n_classes, argument="y"):
        raise NotImplementedError

    def from_logits(self, z, targets):
        """(per-sample losses (N,), dL/dz (N, C)) for logits z (N, C)."""
        raise NotImplementedError

    def from_probabilities(self, p, targets):
        """(per-sample losses (N,), dL/dp (N, C)) for probabilities p (N, C)."""
        raise NotImplementedError

    def __call__(self, targets, p):
        """The batch loss (mean over samples) from the outputs, like calling a Keras loss."""
        p = np.asarray(p)
        targets = self.check_targets(targets, p.shape[0], p.shape[-1])
        return float(np.mean(self.from_outputs(p, targets)[0]))

    def accuracy(self, targets, p):
        """(N,) booleans: argmax of p equals the label (first index on ties, as Keras)."""
        labels = targets if self.sparse else np.argmax(targets, axis=-1)
        return np.argmax(p, axis=-1) == labels


def _log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)  # (N, C), max 0 per row
    lse = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))  # (N, 1)
    return shifted - lse  # (N, C)


class SparseCategoricalCrossentropy(Loss):
    """Targets are class indices (N,) (or (N, 1)); Keras's 'sparse_categorical_crossentropy'."""

    name = "sparse_categorical_crossentropy"
    sparse = True

    def check_targets(self, y, n_samples, n_classes, argument="y"):
        y = np.asarray(y)
        if y.dtype.kind not in "iuf":
            raise TypeError(f"{argument} must hold integer class labels, got dtype {y.dtype}")
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]  # (N,)
        if y.ndim != 1:
            raise ValueError(f"{argument} must be class labels of shape (N,) or (N, 1) for "
                             f"{self.name}, got shape {y.shape}; one-hot targets need "
                             f"'categorical_crossentropy'")
        if y.shape[0] != n_samples:
            raise ValueError(f"{argument} has {y.shape[0]} labels but x has {n_samples} samples")
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
                raise ValueError(f"{argument} must hold whole-number class labels, got non-integer values")
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            bad = int(np.flatnonzero((y < 0) | (y >= n_classes))[0])
            raise ValueError(f"{argument}[{bad}] = {y[bad]} is not a class of this model: labels must be "
                             f"in 0..{n_classes - 1} (the last layer has {n_classes} outputs)")
        return y.astype(np.int64, copy=False)

    def from_logits(self, z, labels):
        rows = np.arange(z.shape[0])
        log_p = _log_softmax(z)  # (N, C)
        losses = -log_p[rows, labels]  # (N,)
        dz = np.exp(log_p)  # (N, C): softmax(z)
        dz[rows, labels] -= 1
        dz /= z.shape[0]
        return losses, dz

    def from_probabilities(self, p, labels):
        rows = np.arange(p.shape[0])
        pc = np.clip(p, EPSILON, 1 - EPSILON)  # (N, C)
        total = pc.sum(axis=-1)  # (N,)
        losses = np.log(total) - np.log(pc[rows, labels])  # (N,)
        dp = np.broadcast_to((1 / total)[:, None], p.shape).copy()  # (N, C)
        dp[rows, labels] -= 1 / pc[rows, labels]
        dp *= (p >= EPSILON) & (p <= 1 - EPSILON)  # the clip's gradient
        return losses, (dp / p.shape[0]).astype(p.dtype, copy=False)


class CategoricalCrossentropy(Loss):
    """Targets are one-hot (or probability) rows (N, C); Keras's 'categorical_crossentropy'."""

    name = "categorical_crossentropy"
    sparse = False

    def check_targets(self, y, n_samples, n_classes, argument="y"):
        y = np.asarray(y)
        if y.dtype.kind not in "iuf":
            raise TypeError(f"{argument} must hold one-hot rows of numbers, got dtype {y.dtype}")
        if y.ndim != 2 or y.shape[1] != n_classes:
            raise ValueError(f"{argument} must be one-hot targets of shape (N, {n_classes}) for {self.name}, "
                             f"got shape {y.shape}; class indices need 'sparse_categorical_crossentropy'")
        if y.shape[0] != n_samples:
            raise ValueError(f"{argument} has {y.shape[0]} rows but x has {n_samples} samples")
        if not np.all(np.isfinite(y)) or np.any(y < 0):
            raise ValueError(f"{argument} must hold finite, non-negative target probabilities")
        return y

    def from_logits(self, z, targets):
        t = targets.astype(z.dtype, copy=False)  # (N, C)
        log_p = _log_softmax(z)  # (N, C)
        losses = -(t * log_p).sum(axis=-1)  # (N,)
        dz = np.exp(log_p) * t.sum(axis=-1, keepdims=True) - t  # (N, C)
        return losses, dz / z.shape[0]

    def from_probabilities(self, p, targets):
        t = targets.astype(p.dtype, copy=False)  # (N, C)
        s = p.sum(axis=-1, keepdims=True)  # (N, 1)
        q = p / s  # (N, C)
        qc = np.clip(q, EPSILON, 1 - EPSILON)
        losses = -(t * np.log(qc)).sum(axis=-1)  # (N,)
        dq = -t / qc * ((q >= EPSILON) & (q <= 1 - EPSILON))  # (N, C)
        dp = (dq - (dq * q).sum(axis=-1, keepdims=True)) / s  # through q = p / sum(p)
        return losses, (dp / p.shape[0]).astype(p.dtype, copy=False)


LOSSES = {cls.name: cls for cls in (SparseCategoricalCrossentropy, CategoricalCrossentropy)}


# Keras's loss settings scratchconv does not implement, with the value that means "off".
KERAS_OFF = {"label_smoothing": 0.0, "ignore_class": None, "axis": -1, "reduction": "sum_over_batch_size"}
KERAS_NAMES = {"SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
               "CategoricalCrossentropy": "categorical_crossentropy"}


def keras_problems(name, config):
    """Why a Keras loss (its class or function name, its config) cannot be carried over; [] when it can."""
    name = KERAS_NAMES.get(name, name)
    if name not in LOSSES:
        return [f"loss {name!r} is not implemented; scratchconv has {sorted(LOSSES)}"]
    return [f"loss {name} sets {key}={config[key]!r}, which scratchconv does not implement"
            for key, off in KERAS_OFF.items() if config.get(key, off) != off]


def get(identifier):
    """A Loss from Keras's string name, a config dict ({"name", "from_logits"}, or Keras's serialised
    {"class_name", "config"}), a Loss instance, or a Keras cross-entropy loss object."""
    if isinstance(identifier, Loss):
        return identifier
    if type(identifier).__module__.startswith("keras") and hasattr(identifier, "get_config"):
        identifier = {"class_name": type(identifier).__name__, "config": identifier.get_config()}
    if isinstance(identifier, dict) and "class_name" in identifier:  # Keras's form
        config = identifier.get("config") or {}
        problems = keras_problems(identifier["class_name"], config)
        if problems:
            raise ValueError("; ".join(problems))
        identifier = {"name": KERAS_NAMES.get(identifier["class_name"], identifier["class_name"]),
                      "from_logits": config.get("from_logits", False)}
    if isinstance(identifier, dict) and identifier.get("name") in LOSSES:
        return LOSSES[identifier["name"]](from_logits=identifier.get("from_logits", False))
    if isinstance(identifier, str) and identifier in LOSSES:
        return LOSSES[identifier]()
    raise ValueError(f"loss must be one of {sorted(LOSSES)} or a scratchconv.nn.losses.Loss, got {identifier!r}")
