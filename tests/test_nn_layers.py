"""MaxPool2D, Flatten, Dense, Activation and the losses against Keras (forward and every gradient).

Keras is the reference: the same layer is built in Keras with the same weights and
differentiated with tf.GradientTape, with a random upstream gradient dy. Max pooling is
differentiated inside tf.function, which is how model.fit runs it (TensorFlow's eager
MaxPoolGrad routes a NaN window's gradient differently; see scratchconv/layers/core.py).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from scratchconv.kernels.pooling import max_pool2d, max_pool2d_backward, max_pool2d_backward_with_activation  # noqa: E402
from scratchconv.layers import Activation, Dense, Flatten, MaxPool2D  # noqa: E402
from scratchconv.kernels import activations  # noqa: E402
from scratchconv.nn import losses  # noqa: E402

RTOL = {np.float32: 1e-5, np.float64: 1e-10}
DTYPES = [np.float32, np.float64]


def assert_close(ours, keras_value, dtype, rtol=None):
    """|ours - keras| <= rtol * max(1, max|keras|), elementwise; shape and dtype equal too."""
    keras_value = np.asarray(keras_value)
    assert ours.shape == keras_value.shape
    assert ours.dtype == np.dtype(dtype)
    rtol = RTOL[dtype] if rtol is None else rtol
    np.testing.assert_allclose(ours, keras_value, rtol=0, atol=rtol * max(1.0, np.abs(keras_value).max(initial=0)))


def keras_forward_backward(layer, x, dy, graph=False):
    """(y, dx, [dweights]) of a Keras layer by tf.GradientTape with upstream dy."""
    def run(x_t, dy_t):
        with tf.GradientTape() as tape:
            tape.watch(x_t)
            y = layer(x_t)
            objective = tf.reduce_sum(y * dy_t)
        grads = tape.gradient(objective, [x_t, *layer.trainable_weights])
        return y, grads

    if graph:
        run = tf.function(run)
    y, grads = run(tf.constant(x), tf.constant(dy))
    return y.numpy(), grads[0].numpy(), [g.numpy() for g in grads[1:]]


# --------------------------------------------------------------------------- MaxPool2D

POOL_CASES = [
    # (input shape NHWC, pool_size, strides, padding)
    ((2, 6, 6, 3), 2, None, "valid"),
    ((2, 7, 5, 2), 2, None, "valid"),  # odd sizes: the last row/column is dropped
    ((2, 7, 5, 2), 2, None, "same"),  # odd sizes: padded at the bottom/right
    ((1, 8, 9, 4), 3, 2, "valid"),  # overlapping windows: gradients add up
    ((1, 8, 9, 4), 3, 2, "same"),
    ((3, 5, 6, 1), (2, 3), (1, 2), "same"),  # non-square pool and strides
    ((1, 4, 4, 2), 4, 1, "same"),  # pool as large as the input
    ((2, 1, 1, 3), 2, None, "same"),  # 1x1 input, 'same'
    ((2, 8, 7, 3), 2, 3, "valid"),  # strides > pool: cells no window reaches get 0
    ((2, 8, 7, 3), (2, 1), (3, 2), "same"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,pool,strides,padding", POOL_CASES)
def test_max_pool_matches_keras(shape, pool, strides, padding, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    ours = MaxPool2D(pool, strides, padding, dtype=dtype)
    y = ours.forward(x)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = ours.backward(dy)
    layer = keras.layers.MaxPool2D(pool, strides, padding, dtype=np.dtype(dtype).name)
    y_ref, dx_ref, _ = keras_forward_backward(layer, x, dy, graph=True)
    assert ours.compute_output_shape((None, *shape[1:]))[1:] == y_ref.shape[1:]
    assert_close(y, y_ref, dtype)
    assert_close(dx, dx_ref, dtype)


@pytest.mark.parametrize("strides", [None, 1])
def test_max_pool_ties_go_to_the_first_position_like_tensorflow(strides):
    # Integer values 0..2 in 2x2 windows: most windows hold a tie for the maximum, and with
    # strides 1 the windows overlap. TensorFlow gives the whole gradient to the first maximum
    # in row-major order.
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, size=(2, 6, 6, 3)).astype(np.float32)
    ours = MaxPool2D(2, strides)
    y = ours.forward(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = ours.backward(dy)
    for graph in (False, True):
        y_ref, dx_ref, _ = keras_forward_backward(keras.layers.MaxPool2D(2, strides), x, dy, graph=graph)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_allclose(dx, dx_ref, rtol=0, atol=1e-6)


def test_max_pool_tie_breaking_by_hand():
    # Independent of Keras: window [[1, 1], [0, 1]] sends its gradient to the top-left 1.
    x = np.array([[1, 1], [0, 1]], np.float32).reshape(1, 2, 2, 1)
    layer = MaxPool2D(2)
    layer.forward(x)
    dx = layer.backward(np.full((1, 1, 1, 1), 5, np.float32))
    np.testing.assert_array_equal(dx.reshape(2, 2), [[5, 0], [0, 0]])


def test_max_pool_nan_and_inf_like_tensorflow():
    # TensorFlow's CPU max pool starts from the lowest finite value and takes only strictly larger
    # values: NaN is skipped, a window of NaN (or -inf) gives the lowest float32.
    x = np.array([[1, np.nan, 3, 2],
                  [np.nan, 5, 3, 2],
                  [np.nan, np.nan, -np.inf, -np.inf],
                  [np.nan, np.nan, -np.inf, np.inf]], np.float32)
    x = x.reshape(1, 4, 4, 1)
    ours = MaxPool2D(2)
    y = ours.forward(x)
    dy = np.arange(1, 5, dtype=np.float32).reshape(1, 2, 2, 1)
    dx = ours.backward(dy)
    y_ref, dx_ref, _ = keras_forward_backward(keras.layers.MaxPool2D(2), x, dy, graph=True)
    np.testing.assert_array_equal(y, y_ref)
    assert y[0, 1, 0, 0] == np.finfo(np.float32).min
    # The all-NaN window's gradient: TensorFlow's MaxPoolGrad has no winner to route it to;
    # compare the windows that have one.
    keep = np.ones((4, 4), bool)
    keep[2:, :2] = False
    np.testing.assert_array_equal(dx[0, :, :, 0][keep], dx_ref[0, :, :, 0][keep])


def test_max_pool_channels_first_matches_keras():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)  # NCHW
    ours = MaxPool2D(2, padding="same", data_format="channels_first")
    y = ours.forward(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    y_ref, dx_ref, _ = keras_forward_backward(
        keras.layers.MaxPool2D(2, padding="same", data_format="channels_first"), x, dy, graph=True)
    assert_close(y, y_ref, np.float32)
    assert_close(ours.backward(dy), dx_ref, np.float32)


@pytest.mark.parametrize("kwargs,error", [
    (dict(pool_size=0), ValueError), (dict(pool_size=(2, 2, 2)), ValueError), (dict(strides=0), ValueError),
    (dict(padding="full"), ValueError), (dict(data_format="nhwc"), ValueError)])
def test_max_pool_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error):
        MaxPool2D(**kwargs)


def test_max_pool_rejects_bad_input():
    with pytest.raises(ValueError, match="rank 4"):
        max_pool2d(np.zeros((4, 4, 1), np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        max_pool2d(np.zeros((1, 4, 4, 1), np.int32))
    with pytest.raises(ValueError, match="no output"):
        max_pool2d(np.zeros((1, 1, 4, 1), np.float32), 2)


# --------------------------------------------------------------------------- Dense, Activation, Flatten


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", [None, "relu", "selu", "softmax"])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 7)])  # Keras's Dense also takes (N, ..., D)
def test_dense_matches_keras(dtype, activation, use_bias, shape):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(dtype)
    layer = keras.layers.Dense(4, activation=activation, use_bias=use_bias, dtype=np.dtype(dtype).name)
    layer.build((None, *shape[1:]))
    weights = [rng.standard_normal(w.shape).astype(dtype) for w in layer.get_weights()]
    layer.set_weights(weights)
    ours = Dense(4, activation=activation, use_bias=use_bias, dtype=dtype)
    ours.build((None, *shape[1:]))
    ours.set_weights(layer.get_weights())  # exactly what Keras's get_weights() returns
    y = ours.forward(x)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = ours.backward(dy)
    y_ref, dx_ref, grads_ref = keras_forward_backward(layer, x, dy)
    assert_close(y, y_ref, dtype)
    assert_close(dx, dx_ref, dtype)
    assert len(ours.gradients) == len(grads_ref) == len(layer.get_weights())
    for g, g_ref in zip(ours.gradients, grads_ref):
        assert_close(g, g_ref, dtype)
    assert ours.count_params() == layer.count_params()
    for w, w_ref in zip(ours.get_weights(), layer.get_weights()):
        np.testing.assert_array_equal(w, w_ref)


def test_dense_default_initialisation_is_keras_default_distribution():
    # glorot_uniform kernel (limit sqrt(6 / (fan_in + fan_out))), zero bias, seeded.
    a, b = Dense(300, seed=5), Dense(300, seed=5)
    a.build((None, 200))
    b.build((None, 200))
    kernel, bias = a.get_weights()
    np.testing.assert_array_equal(kernel, b.get_weights()[0])
    limit = np.sqrt(6 / 500)
    assert kernel.dtype == np.float32 and np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit
    assert not bias.any()


@pytest.mark.parametrize("activation", ["relu", "selu", "softmax", "linear"])
def test_activation_layer_matches_keras(activation):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 5)).astype(np.float64)
    ours = Activation(activation, dtype="float64")
    y = ours.forward(x)
    dy = rng.standard_normal(y.shape)
    y_ref, dx_ref, _ = keras_forward_backward(keras.layers.Activation(activation, dtype="float64"), x, dy)
    assert_close(y, y_ref, np.float64)
    assert_close(ours.backward(dy), dx_ref, np.float64)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_flatten_matches_keras(data_format):
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    ours = Flatten(data_format=data_format)
    y = ours.forward(x)
    dy = np.random.default_rng(5).standard_normal(y.shape).astype(np.float32)
    y_ref, dx_ref, _ = keras_forward_backward(keras.layers.Flatten(data_format=data_format), x, dy)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(ours.backward(dy), dx_ref)
    assert ours.compute_output_shape((None, 3, 4, 5)) == (None, 60)


# --------------------------------------------------------------------------- losses


def _keras_loss_and_grad(keras_loss, targets, value, from_logits):
    """Keras's loss and its gradient w.r.t. the probabilities (or logits) it is given."""
    v = tf.Variable(value)
    with tf.GradientTape() as tape:
        loss = keras_loss(targets, tf.nn.softmax(v) if from_logits else tf.identity(v))
    return float(loss), tape.gradient(loss, v).numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sparse", [True, False])
def test_cross_entropy_from_probabilities_matches_keras(dtype, sparse):
    # The unfused path: Keras clips p to [1e-7, 1 - 1e-7]; the extreme rows exercise the clip.
    rng = np.random.default_rng(6)
    logits = rng.standard_normal((6, 5)) * 3
    logits[0] = [40, 0, 0, 0, 0]  # p underflows to ~0 in four classes: clipped
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    p = p.astype(dtype)
    labels = rng.integers(0, 5, 6)
    labels[0] = 1  # the clipped class is the label
    targets = labels if sparse else np.eye(5, dtype=dtype)[labels]
    ours = losses.SparseCategoricalCrossentropy() if sparse else losses.CategoricalCrossentropy()
    name = np.dtype(dtype).name  # a Keras loss computes in its own dtype (floatx unless given)
    keras_loss = (keras.losses.SparseCategoricalCrossentropy(dtype=name) if sparse
                  else keras.losses.CategoricalCrossentropy(dtype=name))
    sample_losses, dp = ours.from_probabilities(p, ours.check_targets(targets, 6, 5))
    loss_ref, dp_ref = _keras_loss_and_grad(keras_loss, targets, p, from_logits=False)
    np.testing.assert_allclose(sample_losses.mean(), loss_ref, rtol=RTOL[dtype] * 10)
    assert_close(dp, dp_ref, dtype, rtol=RTOL[dtype] * 10)  # 1/p of a clipped 1e-7: values near 1e6


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sparse", [True, False])
def test_cross_entropy_from_logits_is_stable_and_matches_keras(dtype, sparse):
    rng = np.random.default_rng(7)
    z = (rng.standard_normal((6, 5)) * 3).astype(dtype)
    z[0] = [200, -200, 0, 0, 0]  # exp overflows without the max shift
    labels = rng.integers(0, 5, 6)
    labels[0] = 1  # p = e^-400: -log p = 400, finite only when computed from the logits
    targets = labels if sparse else np.eye(5, dtype=dtype)[labels]
    ours = losses.SparseCategoricalCrossentropy() if sparse else losses.CategoricalCrossentropy()
    name = np.dtype(dtype).name
    keras_loss = (keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=name) if sparse
                  else keras.losses.CategoricalCrossentropy(from_logits=True, dtype=name))
    sample_losses, dz = ours.from_logits(z, ours.check_targets(targets, 6, 5))
    assert np.isfinite(sample_losses).all() and abs(sample_losses[0] - 400) < 1e-3
    v = tf.Variable(z)
    with tf.GradientTape() as tape:
        loss_ref = keras_loss(targets, v)
    dz_ref = tape.gradient(loss_ref, v).numpy()
    np.testing.assert_allclose(sample_losses.mean(), float(loss_ref), rtol=RTOL[dtype])
    assert_close(dz, dz_ref, dtype)


def test_max_pool_runs_as_plain_python_with_numba_disabled(tmp_path):
    # The kernels must also run with NUMBA_DISABLE_JIT=1 (to step through them in a debugger).
    import subprocess
    import sys

    rng = np.random.default_rng(8)
    x = rng.integers(0, 3, (2, 5, 6, 3)).astype(np.float32)  # ties included
    layer = MaxPool2D(3, 2, "same")
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    np.save(tmp_path / "x.npy", x)
    script = (
        "import numpy as np, sys\n"
        "from scratchconv.layers import MaxPool2D\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
        "layer = MaxPool2D(3, 2, 'same')\n"
        "y = layer.forward(x)\n"
        "from scratchconv.kernels.pooling import max_pool2d, max_pool2d_backward_with_activation\n"
        "p, winners = max_pool2d(x - 1, 2)\n"
        "dz, db = max_pool2d_backward_with_activation(np.ones_like(p), winners, x - 1, 'selu')\n"
        f"np.savez({str(tmp_path / 'out.npz')!r}, y=y, dx=layer.backward(np.ones_like(y)), dz=dz, db=db)\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = np.load(tmp_path / "out.npz")
    np.testing.assert_array_equal(out["y"], y)
    np.testing.assert_array_equal(out["dx"], dx)
    p, winners = max_pool2d(x - 1, 2)
    dz, db = max_pool2d_backward_with_activation(np.ones_like(p), winners, x - 1, "selu")
    np.testing.assert_array_equal(out["dz"], dz)
    np.testing.assert_allclose(out["db"], db, rtol=1e-6)


@pytest.mark.parametrize("name", ["relu", "selu"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,pool,strides,padding", [
    ((4, 28, 28, 8), 2, None, "valid"),  # every cell in one window
    ((2, 7, 5, 3), 2, None, "same"),  # odd sizes, padded
    ((2, 7, 5, 3), 2, None, "valid"),  # the last row and column in no window: dz = 0 there
    ((2, 8, 7, 3), 2, 3, "valid"),  # strides > pool
])
def test_pool_backward_with_activation_equals_the_two_passes(name, dtype, shape, pool, strides, padding):
    # The fused pass (Sequential uses it for Conv2D -> MaxPool2D) against the pool's backward,
    # then the activation's backward and the bias sum, each on its own.
    rng = np.random.default_rng(9)
    y = activations.get(name)[0](rng.standard_normal(shape).astype(dtype) * 2)  # the pool's input
    y.reshape(-1)[:4] = 0.0  # the kinks
    p, winners = max_pool2d(y, pool, strides, padding)
    dy = rng.standard_normal(p.shape).astype(dtype)
    dz, dbias = max_pool2d_backward_with_activation(dy, winners, y, name)
    expected = activations.get(name)[1](max_pool2d_backward(dy, winners, y.shape), None, y)
    np.testing.assert_array_equal(dz, expected)
    assert dbias.dtype == dtype
    np.testing.assert_allclose(dbias, expected.astype(np.float64).sum(axis=(0, 1, 2)), rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


def test_pool_backward_with_activation_leaves_overlapping_windows_to_the_two_passes():
    y = np.ones((1, 5, 5, 2), np.float32)
    p, winners = max_pool2d(y, 3, 2)
    assert max_pool2d_backward_with_activation(np.ones_like(p), winners, y, "relu") is None
    assert max_pool2d_backward_with_activation(np.ones_like(max_pool2d(y, 2)[0]), max_pool2d(y, 2)[1], y, "softmax") is None


@pytest.mark.parametrize("channels, filters", [(1, 8), (8, 4)])  # im2col path, row path
def test_conv2d_without_input_gradient_gives_the_same_weight_gradients(channels, filters):
    # A model's first layer calls backward(dy, input_gradient=False): no dx, same weight gradients.
    from scratchconv.layers import Conv2D

    rng = np.random.default_rng(3)
    layer = Conv2D(filters, 3, padding="same", activation="selu", seed=0)
    x = rng.standard_normal((2, 9, 7, channels)).astype(np.float32)
    dy = rng.standard_normal(layer.forward(x, training=True).shape).astype(np.float32)
    dx = layer.backward(dy)
    full = [g.copy() for g in layer.gradients]
    assert dx.shape == x.shape
    assert layer.backward(dy, input_gradient=False) is None
    for with_dx, without in zip(full, layer.gradients):
        np.testing.assert_array_equal(with_dx, without)


@pytest.mark.parametrize("keep_max_bytes", [16 << 20, 0])  # 0: too big to keep, unfolded again
@pytest.mark.parametrize("channels, groups", [(1, 1), (4, 1), (4, 2)])  # im2col's cols^T; the row method's rows
@pytest.mark.parametrize("strides, dilation_rate, padding", [(1, 1, "same"), (2, 1, "same"), (1, 2, "valid"), ((1, 2), 1, "valid")])
def test_conv2d_reuses_its_unfolded_input_exactly(monkeypatch, channels, groups, strides, dilation_rate, padding,
                                                  keep_max_bytes):
    # A training forward keeps its unfolded input for the backward (no second unfold): the
    # transposed cols of one input channel, or the row method's rows (chunk by chunk: one image
    # per chunk here). The gradients must equal the loop-by-loop ones, with and without dx,
    # backward after backward, and after a forward outside training (which keeps nothing).
    from scratchconv import naive
    from scratchconv.kernels import standard, standard_rows
    from scratchconv.layers import Conv2D

    monkeypatch.setattr(standard, "use_im2col", lambda kernel, groups, g: kernel.shape[2] == 1)
    monkeypatch.setattr(standard_rows, "CHUNK_BYTES", 1)
    monkeypatch.setattr(standard_rows, "CHUNK_MIN_ROWS", 1)
    monkeypatch.setattr(standard, "KEEP_MAX_BYTES", keep_max_bytes)
    rng = np.random.default_rng(5)
    layer = Conv2D(6, 3, strides=strides, dilation_rate=dilation_rate, padding=padding, groups=groups, seed=0,
                   dtype="float64")
    x = rng.standard_normal((3, 9, 8, channels))
    for training in (True, True, False):
        y = layer.forward(x, training=training)
        dy = rng.standard_normal(y.shape)
        dx, dkernel, dbias = naive.conv2d_backward(dy, x, *layer.weights, strides=strides, padding=padding,
                                                   dilation_rate=dilation_rate, groups=groups)
        for input_gradient in (True, False, True):
            got_dx = layer.backward(dy, input_gradient=input_gradient)
            if input_gradient:
                np.testing.assert_allclose(got_dx, dx, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(layer.gradients[0], dkernel, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(layer.gradients[1], dbias, rtol=1e-12, atol=1e-12)
        # the check that the kept path ran at all
        if training:  # the forward's algorithm, for the backward to follow, and its unfolded input if it fits
            assert layer._kept[0] == ("im2col" if channels == 1 else "rows")
            assert (layer._kept[1] is not None) == bool(keep_max_bytes)
        else:
            assert layer._kept is None


def test_conv_layers_check_each_new_input_shape():
    # Conv2D and SeparableConv2D check their arguments once per input shape and keep the window
    # geometry: a new shape (another batch size, another image size) must get its own.
    import scratchconv
    from scratchconv.layers import Conv2D

    rng = np.random.default_rng(2)
    layer = Conv2D(4, 3, strides=2, padding="same", seed=0, dtype="float64")
    for shape in [(2, 9, 9, 3), (5, 9, 9, 3), (2, 6, 11, 3), (2, 9, 9, 3)]:
        x = rng.standard_normal(shape)
        y = layer.forward(x, training=True)
        np.testing.assert_allclose(y, scratchconv.conv2d(x, *layer.weights, strides=2, padding="same"), rtol=1e-12)
        dy = rng.standard_normal(y.shape)
        np.testing.assert_allclose(layer.backward(dy), scratchconv.conv2d_backward(
            dy, x, *layer.weights, strides=2, padding="same")[0], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="dz"):  # a dz of another shape is still refused
        layer.backward_from_preactivation(np.zeros((2, 4, 4, 4)), np.zeros(4))


@pytest.mark.parametrize("strides", [1, 2])
@pytest.mark.parametrize("activation", ["relu", "selu"])
def test_one_by_one_conv2d_runs_as_pointwise_and_equals_conv2d(strides, activation):
    # Conv2D(F, 1) with algorithm 'auto' takes PointwiseConv2D's one product; forced to 'rows' it
    # runs conv2d. Same model, same weights, float64: every gradient equal, also where the layer
    # hands the layer before its dz through that layer's activation (the fused backward).
    from scratchconv import nn
    from scratchconv.layers import Conv2D, Dense, Flatten

    def model(algorithm):
        m = nn.Sequential([Conv2D(6, 3, padding="same", activation=activation, input_shape=(7, 7, 3), seed=0,
                                  dtype="float64"),
                           Conv2D(4, 1, strides=strides, activation=activation, seed=1, dtype="float64",
                                  algorithm=algorithm),
                           Flatten(dtype="float64"), Dense(3, activation="softmax", seed=2, dtype="float64")])
        m.compile("sgd", "sparse_categorical_crossentropy")
        return m

    fast, rows = model("auto"), model("rows")
    assert fast.layers[1]._one_by_one() and not rows.layers[1]._one_by_one()
    x = np.random.default_rng(3).normal(size=(5, 7, 7, 3))
    y = np.arange(5) % 3
    (loss_fast, grads_fast), (loss_rows, grads_rows) = fast.gradients_on_batch(x, y), rows.gradients_on_batch(x, y)
    assert loss_fast == pytest.approx(loss_rows, rel=1e-13)
    for g_fast, g_rows in zip(grads_fast, grads_rows):
        np.testing.assert_allclose(g_fast, g_rows, rtol=1e-11, atol=1e-14)
