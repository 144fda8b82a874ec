"""A small network (Conv2D, MaxPooling2D, Flatten, Dense) built twice, in Keras and in scratchconv,
with the same weights: the fixture of the training-settings tests (optimizers, schedules, losses,
regularizers, constraints, frozen layers) that compare train_on_batch step by step."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from scratchconv import nn  # noqa: E402
from scratchconv.layers import Conv2D, Dense, Flatten, MaxPool2D  # noqa: E402

INPUT = (8, 8, 2)
CLASSES = 5


def twins(dtype="float64", activation="softmax", conv=None, dense=None, seed=0):
    """(keras_model, model) holding the same weights; conv/dense: extra arguments of the two
    weighted layers (Keras's names: kernel_regularizer=..., trainable=False, ...), given to both."""
    conv, dense = dict(conv or {}), dict(dense or {})
    keras_model = keras.Sequential([
        keras.Input(INPUT, dtype=dtype),
        keras.layers.Conv2D(4, 3, activation="relu", dtype=dtype, **conv),
        keras.layers.MaxPooling2D(2, dtype=dtype), keras.layers.Flatten(dtype=dtype),
        keras.layers.Dense(CLASSES, activation=activation, dtype=dtype, **dense)])
    model = nn.Sequential([
        Conv2D(4, 3, activation="relu", dtype=dtype, input_shape=INPUT, seed=seed, **conv),
        MaxPool2D(2, dtype=dtype), Flatten(dtype=dtype),
        Dense(CLASSES, activation=activation, dtype=dtype, seed=seed, **dense)])
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(w.shape).astype(dtype) * 0.5 for w in model.get_weights()]
    model.set_weights(weights)
    keras_model.set_weights(weights)
    return keras_model, model


def batches(dtype="float64", steps=3, n=6, seed=1, one_hot=False):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = rng.standard_normal((n, *INPUT)).astype(dtype)
        y = rng.integers(0, CLASSES, n)
        yield x, (np.eye(CLASSES, dtype=dtype)[y] if one_hot else y)


def train_both(keras_model, model, dtype="float64", steps=3, one_hot=False):
    """train_on_batch on both, step by step; returns [(our loss, Keras's loss)] per step."""
    out = []
    for x, y in batches(dtype, steps, one_hot=one_hot):
        loss_ref = keras_model.train_on_batch(x, y)
        loss_ref = loss_ref[0] if isinstance(loss_ref, list) else loss_ref
        loss_sum, _ = model.train_step(x, model.loss.check_targets(y, len(x), CLASSES))
        out.append((loss_sum / len(x), float(loss_ref)))
    return out


def assert_same_weights(model, keras_model, atol=1e-12, what=""):
    for i, (w, w_ref) in enumerate(zip(model.get_weights(), keras_model.get_weights())):
        np.testing.assert_allclose(w, w_ref, rtol=0, atol=atol * max(1, np.abs(w_ref).max()),
                                   err_msg=f"{what} weight {i}")
