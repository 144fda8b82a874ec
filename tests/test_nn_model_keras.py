"""The article's whole network against Keras: loss, every gradient, optimizer steps, weight exchange.

The Keras models here are written out layer by layer with Keras's own API (not produced by
scratchconv's to_keras), so the checks do not depend on scratchconv's conversion code except
where that code is what is tested (the round trips).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from scratchconv import nn  # noqa: E402

DTYPES = ["float32", "float64"]


@pytest.fixture
def floatx():
    """Sets Keras's floatx for one test (the optimizer's learning-rate variable and the losses
    use floatx: in float64 they must be float64 too, or Keras rounds them to float32)."""
    def set_floatx(dtype):
        keras.config.set_floatx(dtype)
    yield set_floatx
    keras.config.set_floatx("float32")


def keras_article_network(kind, dtype):
    """The article's Fashion-MNIST network written directly in Keras."""
    conv = keras.layers.SeparableConv2D if kind == "separable" else keras.layers.Conv2D
    common = dict(kernel_size=3, padding="same", activation="selu", dtype=dtype)
    layers = [keras.Input((28, 28, 1), dtype=dtype), keras.layers.Conv2D(32, **common), conv(32, **common),
              keras.layers.MaxPool2D(2, dtype=dtype)]
    for filters in (64, 128):
        layers += [conv(filters, **common), conv(filters, **common), keras.layers.MaxPool2D(2, dtype=dtype)]
    layers += [keras.layers.Flatten(dtype=dtype), keras.layers.Dense(128, activation="selu", dtype=dtype),
               keras.layers.Dense(10, activation="softmax", dtype=dtype)]
    return keras.Sequential(layers)


def batch(dtype, n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 28, 28, 1)).astype(dtype), rng.integers(0, 10, n)


def scratchconv_twin(keras_model, kind, dtype, optimizer="sgd"):
    """scratchconv's article network holding the Keras model's weights."""
    model = nn.fashion_mnist_model(kind, seed=0, dtype=dtype)
    model.set_weights(keras_model.get_weights())
    model.compile(optimizer, "sparse_categorical_crossentropy", ["accuracy"])
    return model


def keras_loss_and_gradients(keras_model, x, y, dtype):
    with tf.GradientTape() as tape:
        p = keras_model(x, training=True)
        loss = keras.losses.SparseCategoricalCrossentropy(dtype=dtype)(y, p)
    return float(loss), [g.numpy() for g in tape.gradient(loss, keras_model.trainable_weights)]


def keras_float64_reference(keras_model, kind, x, y):
    """Keras's loss and gradients in float64 for a float32 model's weights (the exact values to ~1e-15)."""
    keras.config.set_floatx("float64")
    try:
        twin = keras_article_network(kind, "float64")
        twin.set_weights([w.astype(np.float64) for w in keras_model.get_weights()])
        return keras_loss_and_gradients(twin, x.astype(np.float64), y, "float64")
    finally:
        keras.config.set_floatx("float32")


def assert_gradients_close(grads, grads_ref, variables, rtol):
    """Each gradient within rtol of its largest entry."""
    assert len(grads) == len(grads_ref)
    for g, g_ref, v in zip(grads, grads_ref, variables):
        assert g.shape == g_ref.shape, v.path
        np.testing.assert_allclose(g, g_ref, rtol=0, atol=rtol * np.abs(g_ref).max(), err_msg=v.path)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["separable", "standard"])
def test_loss_and_every_gradient_equal_gradient_tape(kind, dtype, floatx):
    floatx(dtype)
    keras.utils.set_random_seed(0)
    keras_model = keras_article_network(kind, dtype)
    model = scratchconv_twin(keras_model, kind, dtype)
    x, y = batch(dtype)
    loss, grads = model.gradients_on_batch(x, y)
    assert all(g.dtype == np.dtype(dtype) for g in grads)
    assert len(grads) == (21 if kind == "separable" else 16)
    loss_ref, grads_ref = keras_loss_and_gradients(keras_model, x, y, dtype)
    variables = keras_model.trainable_weights
    if dtype == "float64":
        np.testing.assert_allclose(loss, loss_ref, rtol=1e-12)
        assert_gradients_close(grads, grads_ref, variables, 1e-10)
        return
    # float32: the exact values are Keras's float64 tape on the same weights and input. Measured:
    # scratchconv's float32 gradients lie within ~1e-6 of each gradient's largest entry from them;
    # Keras's own float32 gradients, on this untrained separable stack, up to ~1e-2 (each Keras
    # layer alone is accurate to ~1e-6; through the whole network the gradients near the input
    # sum nearly cancelling terms, and TensorFlow's float32 summation orders lose more of them).
    # So: scratchconv within 1e-5 of the exact values, and within Keras's own float32 error of
    # Keras's float32 gradients.
    loss64, grads64 = keras_float64_reference(keras_model, kind, x, y)
    np.testing.assert_allclose(loss, loss64, rtol=1e-6)
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-6)
    assert_gradients_close(grads, grads64, variables, 1e-5)
    for g, g32, g64, v in zip(grads, grads_ref, grads64, variables):
        keras_error = np.abs(g32 - g64).max()
        np.testing.assert_allclose(g, g32, rtol=0, atol=keras_error + 1e-5 * np.abs(g64).max(), err_msg=v.path)


OPTIMIZERS = [
    ("sgd", dict()),
    ("sgd", dict(learning_rate=0.05, momentum=0.9)),
    ("sgd", dict(learning_rate=0.05, momentum=0.9, nesterov=True)),
    ("adam", dict()),
    ("adam", dict(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-4)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,config", OPTIMIZERS)
def test_optimizer_steps_equal_keras(name, config, dtype, floatx):
    # The same gradients applied by both optimizers, three steps (momentum and Adam's moments and
    # bias correction carry over): the new weights must agree to rounding.
    floatx(dtype)
    rng = np.random.default_rng(1)
    shapes = [(3, 3, 1, 4), (4,), (20, 10)]
    start = [rng.standard_normal(s).astype(dtype) for s in shapes]
    variables = [keras.Variable(w, dtype=dtype) for w in start]
    keras_optimizer = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}[name](**config)
    ours = {"sgd": nn.SGD, "adam": nn.Adam}[name](**config)
    weights = [w.copy() for w in start]
    for step in range(3):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        keras_optimizer.apply_gradients(zip([tf.constant(g) for g in grads], variables))
        ours.apply(weights, grads)
        for w, v in zip(weights, variables):
            np.testing.assert_allclose(w, v.numpy(), rtol={"float32": 2e-6, "float64": 1e-14}[dtype], atol=0,
                                       err_msg=f"{name} {config} step {step + 1}")
    assert ours.iterations == int(keras_optimizer.iterations.numpy()) == 3


def test_keras_defaults():
    sgd, adam = nn.SGD(), nn.Adam()
    k_sgd, k_adam = keras.optimizers.SGD(), keras.optimizers.Adam()
    assert (sgd.learning_rate, sgd.momentum, sgd.nesterov) == (
        pytest.approx(float(k_sgd.learning_rate.numpy())), k_sgd.momentum, k_sgd.nesterov)
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon) == (
        pytest.approx(float(k_adam.learning_rate.numpy())), k_adam.beta_1, k_adam.beta_2, k_adam.epsilon)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_one_training_step_equals_keras_train_on_batch(optimizer, floatx):
    # End to end: forward, loss, backward and the optimizer on one batch, in float64.
    floatx("float64")
    keras_model = keras_article_network("separable", "float64")
    model = scratchconv_twin(keras_model, "separable", "float64", optimizer)
    keras_model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = batch("float64", n=8, seed=2)
    loss_ref, _ = keras_model.train_on_batch(x, y)
    loss_sum, _ = model.train_step(x, model.loss.check_targets(y, 8, 10))
    np.testing.assert_allclose(loss_sum / 8, loss_ref, rtol=1e-12)
    for w, w_ref in zip(model.get_weights(), keras_model.get_weights()):
        np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-11 * max(1, np.abs(w_ref).max()))


def test_keras_to_scratchconv_to_keras_round_trip(tmp_path):
    keras_model = keras_article_network("separable", "float32")
    keras_model.compile(optimizer=keras.optimizers.SGD(0.02, momentum=0.5),
                        loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    path = tmp_path / "model.keras"
    keras_model.save(path)
    x, _ = batch("float32", n=5)
    for source in (keras_model, str(path)):
        model = nn.from_keras(source)
        assert [type(layer).__name__ for layer in model.layers] == [
            "Conv2D", "SeparableConv2D", "MaxPool2D", "SeparableConv2D", "SeparableConv2D", "MaxPool2D",
            "SeparableConv2D", "SeparableConv2D", "MaxPool2D", "Flatten", "Dense", "Dense"]
        assert model.count_params() == keras_model.count_params() == 184_234
        for w, w_ref in zip(model.get_weights(), keras_model.get_weights()):
            np.testing.assert_array_equal(w, w_ref)
        assert isinstance(model.optimizer, nn.SGD) and model.optimizer.momentum == 0.5
        assert model.loss.name == "sparse_categorical_crossentropy" and model.metrics == ["accuracy"]
        np.testing.assert_allclose(model.predict(x, verbose=0), keras_model.predict(x, verbose=0), atol=1e-6)
        back = model.to_keras()
        assert [type(layer).__name__ for layer in back.layers] == [
            type(layer).__name__ for layer in keras_model.layers]
        for w, w_ref in zip(back.get_weights(), keras_model.get_weights()):
            np.testing.assert_array_equal(w, w_ref)
        np.testing.assert_array_equal(back.predict(x, verbose=0), keras_model.predict(x, verbose=0))


def test_evaluate_equals_keras():
    keras_model = keras_article_network("standard", "float32")
    keras_model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model = scratchconv_twin(keras_model, "standard", "float32")
    x, y = batch("float32", n=40, seed=3)  # 40 = one batch of 32 and one of 8
    loss, accuracy = model.evaluate(x, y, verbose=0)
    loss_ref, accuracy_ref = keras_model.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-5)
    assert accuracy == pytest.approx(accuracy_ref)


def test_from_keras_rejects_what_scratchconv_lacks():
    unsupported = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.LayerNormalization()])
    with pytest.raises(ValueError, match="LayerNormalization"):
        nn.from_keras(unsupported)
    regularized = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activity_regularizer="l2")])
    with pytest.raises(ValueError, match="activity_regularizer"):
        nn.from_keras(regularized)
    with pytest.raises(TypeError, match="keras.Model"):
        nn.from_keras(42)
    with pytest.raises(FileNotFoundError):
        nn.from_keras("/nonexistent/model.keras")


def test_compile_takes_keras_objects():
    model = nn.fashion_mnist_model("separable", seed=0)
    model.compile(keras.optimizers.Adam(0.01, beta_1=0.8), keras.losses.SparseCategoricalCrossentropy(),
                  ["accuracy"])
    assert isinstance(model.optimizer, nn.Adam) and model.optimizer.beta_1 == 0.8
    assert model.optimizer.learning_rate == pytest.approx(0.01)
    assert model.loss.name == "sparse_categorical_crossentropy"
    model.compile(keras.optimizers.SGD(momentum=0.9, nesterov=True), keras.losses.CategoricalCrossentropy())
    assert model.optimizer.nesterov and model.optimizer.momentum == 0.9
    with pytest.raises(ValueError, match="label_smoothing"):
        model.compile("sgd", keras.losses.CategoricalCrossentropy(label_smoothing=0.1))


def test_other_layers_round_trip_and_gradients_through_keras(floatx):
    # Depthwise and pointwise convolutions, Activation layers (softmax as its own layer: the fused
    # loss path), a Dense without bias, overlapping 'same' pooling, in float64.
    from scratchconv.layers import DepthwiseConv2D, PointwiseConv2D
    from scratchconv.layers import Activation, Dense, Flatten, MaxPool2D

    floatx("float64")
    rng = np.random.default_rng(4)
    common = dict(dtype="float64", seed=rng)
    model = nn.Sequential([
        DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, activation="relu",
                        input_shape=(9, 8, 3), **common),
        PointwiseConv2D(5, **common), Activation("selu", dtype="float64"),
        MaxPool2D(2, strides=1, padding="same", dtype="float64"), Flatten(dtype="float64"),
        Dense(4, use_bias=False, **common), Activation("softmax", dtype="float64")])
    model.compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
    keras_model = model.to_keras()
    assert [type(layer).__name__ for layer in keras_model.layers] == [
        "DepthwiseConv2D", "Conv2D", "Activation", "MaxPooling2D", "Flatten", "Dense", "Activation"]
    x = rng.standard_normal((5, 9, 8, 3))
    y = rng.integers(0, 4, 5)
    np.testing.assert_allclose(model.predict(x, verbose=0), keras_model.predict(x, verbose=0), atol=1e-12)
    loss, grads = model.gradients_on_batch(x, y)
    loss_ref, grads_ref = keras_loss_and_gradients(keras_model, x, y, "float64")
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-12)
    assert_gradients_close(grads, grads_ref, keras_model.trainable_weights, 1e-10)
    back = nn.from_keras(keras_model)
    for w, w_ref in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(w, w_ref)
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))
