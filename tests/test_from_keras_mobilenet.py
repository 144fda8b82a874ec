"""A Keras user's own model on scratchconv: keras.applications.MobileNet through from_keras, and
from_keras's one honest error for everything it cannot hold.

MobileNet (weights=None, include_top=True) is a functional model that is a chain: Conv2D,
BatchNormalization, ReLU(6.), DepthwiseConv2D, ZeroPadding2D, GlobalAveragePooling2D(keepdims),
Dropout, Reshape, Activation. Checked here:

- the same predictions as Keras (inference: BatchNormalization with its moving statistics), at
  96x96 and 128x128, alpha 0.25 to 1.0, after giving the moving statistics random values (fresh
  ones are 0 and 1, which would hide a mix-up of mean and variance);
- one training step (SGD and Adam, dropout=0 since Keras's dropout masks are its own draws): the
  same weights and moving statistics as Keras's ``train_on_batch``, in float64 (see the test);
- ``networks.mobilenet_model`` builds the same network (names, shapes, parameters) without Keras.

Tolerances: predictions in float32 through 28 layers of convolution and batch normalisation within
2e-5 (absolute, probabilities); one step in float64 within 1e-9 of each array's scale.
"""

import re

import numpy as np
import pytest
import tensorflow as tf  # noqa: F401  (a missing TensorFlow is an error here, never a skip)
import keras

from scratchconv import nn

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def keras_mobilenet(size, alpha, dropout=1e-3, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.applications.MobileNet(weights=None, input_shape=(size, size, 3), alpha=alpha, classes=10,
                                         dropout=dropout)
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # moving statistics away from 0 and 1
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape).astype("float32"),
                               rng.normal(0, 0.1, beta.shape).astype("float32"),
                               rng.normal(0, 0.1, mean.shape).astype("float32"),
                               rng.uniform(0.5, 2.0, variance.shape).astype("float32")])
    return model


def images(n, size, seed=1):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)).astype("float32")


@pytest.mark.parametrize("size, alpha", [(96, 0.25), (128, 0.25), (96, 0.5), (128, 0.75), (96, 1.0)])
def test_mobilenet_predictions_equal_keras(size, alpha):
    keras_model = keras_mobilenet(size, alpha)
    model = nn.from_keras(keras_model)
    assert model.count_params() == keras_model.count_params()
    assert [layer.name for layer in model.layers] == [layer.name for layer in keras_model.layers[1:]]
    x = images(3, size)
    expected = keras_model.predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=0, atol=2e-5)


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.75, 1.0])
def test_mobilenet_model_is_kerass_mobilenet(alpha):
    keras_model = keras.applications.MobileNet(weights=None, input_shape=(96, 96, 3), alpha=alpha, classes=10)
    model = nn.mobilenet_model((96, 96, 3), alpha=alpha, classes=10)
    assert model.count_params() == keras_model.count_params()
    def named(layers):  # Keras numbers the one layer MobileNet leaves unnamed: global_average_pooling2d_<k>
        return [(re.sub(r"^(global_average_pooling2d)_\d+$", r"\1", layer.name), type(layer).__name__)
                for layer in layers]

    assert named(model.layers) == named(keras_model.layers[1:])
    assert [w.shape for w in model.get_weights()] == [w.shape for w in keras_model.get_weights()]


@pytest.fixture
def float64():
    """Keras builds in float64 for one test (MobileNet takes no dtype: the global policy and floatx)."""
    policy = keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    yield
    keras.config.set_dtype_policy(policy)
    keras.config.set_floatx("float32")


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_mobilenet_train_step_equals_keras(optimizer, float64):
    # In float64: through 27 batch normalisations in training mode (batch statistics of 8 images,
    # 3x3 pixels at the end) float32 rounding alone moves the gradients by up to 17% (measured:
    # TF float32 against our float32, while float64 against float64 agree to 2e-13).
    keras_model = keras_mobilenet(96, 0.25, dropout=0.0)
    make = {"sgd": lambda: keras.optimizers.SGD(0.05, momentum=0.9), "adam": lambda: keras.optimizers.Adam(1e-3)}
    keras_model.compile(optimizer=make[optimizer](), loss="sparse_categorical_crossentropy")
    model = nn.from_keras(keras_model)
    assert model.dtype == np.float64
    x, y = images(8, 96, seed=2).astype("float64"), np.arange(8) % 10
    before = keras_model.get_weights()
    loss_ref = keras_model.train_on_batch(x, y)
    loss_sum, _ = model.train_step(x, model.loss.check_targets(y, 8, 10))
    np.testing.assert_allclose(loss_sum / 8, loss_ref, rtol=1e-10)
    names = [f"{layer.name}[{i}]" for layer in model.layers for i in range(len(layer.weights))]
    after = model.get_weights()
    for name, w, w_ref in zip(names, after, keras_model.get_weights()):  # weights and moving statistics
        np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-9 * max(1.0, float(np.abs(w_ref).max())), err_msg=name)
    moving = [i for i, name in enumerate(names) if name.endswith(("[2]", "[3]")) and "_bn" in name]
    assert len(moving) == 2 * 27 and all(not np.array_equal(after[i], before[i]) for i in moving)


def test_from_keras_lists_every_problem_in_one_error():
    inputs = keras.Input((16, 16, 3))
    model = keras.Sequential([
        inputs,
        keras.layers.Conv2D(4, 3, activity_regularizer="l2", name="conv_a"),
        keras.layers.BatchNormalization(renorm=True, name="bn_renorm"),
        keras.layers.LayerNormalization(name="layer_norm"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(3, name="dense_ok"),
    ])
    with pytest.raises(ValueError) as error:
        nn.from_keras(model)
    message = str(error.value)
    assert "3 problems" in message
    for expected in ("'conv_a' (Conv2D): activity_regularizer", "'bn_renorm' (BatchNormalization): renorm=True",
                     "'layer_norm' (LayerNormalization): scratchconv has no LayerNormalization"):
        assert expected in message, message
    assert "dense_ok" not in message


def test_from_keras_refuses_a_model_that_is_not_a_chain():
    inputs = keras.Input((8,))
    a = keras.layers.Dense(4, name="a")(inputs)
    b = keras.layers.Dense(4, name="b")(inputs)
    model = keras.Model(inputs, keras.layers.Add(name="add")([a, b]))
    with pytest.raises(ValueError, match="not a chain"):
        nn.from_keras(model)
