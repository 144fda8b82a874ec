"""BatchNormalization against Keras 3 (forward, every gradient, the moving statistics), the
loop-by-loop kernels against the fast ones, finite differences, and a run without JIT.

Keras is the reference: keras.layers.BatchNormalization with the same weights (set_weights),
called with ``training=True/False`` under tf.GradientTape with a random upstream dy.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import scratchconv  # noqa: E402
from scratchconv.kernels import batchnorm  # noqa: E402
from scratchconv.layers import BatchNormalization  # noqa: E402

RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}
DTYPES = [np.float32, np.float64]
REPO = Path(scratchconv.__file__).resolve().parents[1]


def assert_close(what, ours, ref, dtype, rtol=None):
    """|ours - ref| <= rtol * max(1, max|ref|), elementwise; shape and dtype equal too."""
    ref = np.asarray(ref)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    assert ours.dtype == np.dtype(dtype), f"{what}: dtype {ours.dtype}"
    rtol = RTOL[np.dtype(dtype)] if rtol is None else rtol
    np.testing.assert_allclose(ours, ref, rtol=0, atol=rtol * max(1.0, np.abs(ref).max(initial=0)), err_msg=what)


def random_weights(rng, channels, dtype, center=True, scale=True):
    """[gamma, beta, moving_mean, moving_variance] (those that exist), moving variance > 0."""
    weights = ([rng.uniform(0.5, 2.0, channels)] if scale else []) + ([rng.standard_normal(channels)] if center else [])
    weights += [rng.standard_normal(channels), rng.uniform(0.2, 3.0, channels)]
    return [w.astype(dtype) for w in weights]


def keras_run(x, dy, weights, training, trainable=True, relu_max=False, **kwargs):
    """(y, dx, [dgamma, dbeta], weights after) of Keras's BatchNormalization (then ReLU(relu_max)
    if relu_max is not False) with these weights, by tf.GradientTape with upstream dy."""
    layer = keras.layers.BatchNormalization(dtype=x.dtype.name, **kwargs)
    layer.build(x.shape)
    layer.set_weights(weights)
    layer.trainable = trainable
    x_t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        y = layer(x_t, training=training)
        if relu_max is not False:
            y = keras.layers.ReLU(max_value=relu_max, dtype=x.dtype.name)(y)
        objective = tf.reduce_sum(y * tf.constant(dy))
    grads = tape.gradient(objective, [x_t, *layer.trainable_weights])
    return y.numpy(), grads[0].numpy(), [g.numpy() for g in grads[1:]], layer.get_weights()


def ours_run(x, dy, weights, training, trainable=True, relu_max=False, **kwargs):
    """The same with scratchconv's layer (forward_with_relu / backward_with_relu for relu_max)."""
    layer = BatchNormalization(dtype=x.dtype, trainable=trainable, **kwargs)
    layer.build((None, *x.shape[1:]))
    layer.set_weights(weights)
    if relu_max is False:
        y = layer.forward(x, training=training)
        dx = layer.backward(dy)
    else:
        y = layer.forward_with_relu(x, relu_max, training=training)
        dx = layer.backward_with_relu(dy, y, relu_max)
    return y, dx, layer.trainable_gradients, layer.get_weights(), layer


def compare(x, dy, weights, training, trainable=True, relu_max=False, rtol=None, **kwargs):
    ref = keras_run(x, dy, weights, training, trainable, relu_max, **kwargs)
    ours = ours_run(x, dy, weights, training, trainable, relu_max, **kwargs)
    dtype = x.dtype
    assert_close("y", ours[0], ref[0], dtype, rtol)
    assert_close("dx", ours[1], ref[1], dtype, rtol)
    assert len(ours[2]) == len(ref[2])
    for name, g, g_ref in zip(("dgamma/dbeta", "dbeta"), ours[2], ref[2]):
        assert_close(name, g, g_ref, dtype, rtol)
    assert len(ours[3]) == len(ref[3])
    for i, (w, w_ref) in enumerate(zip(ours[3], ref[3])):
        assert_close(f"weight {i} after the call", w, w_ref, dtype, rtol)
    return ours[4]


# (shape, axis): 2-D (Dense), NHWC, NCHW (axis=1), a middle axis, rank 3
SHAPES = [((8, 5), -1), ((4, 6, 5, 3), -1), ((3, 4, 6, 5), 1), ((3, 4, 5, 2), 2), ((6, 7, 4), -1),
          ((16, 3), 1), ((2, 9, 9, 16), 3)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_matches_keras(shape, axis, training, dtype):
    rng = np.random.default_rng(len(shape) * 10 + axis % 5)
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    compare(x, dy, random_weights(rng, shape[axis], dtype), training, axis=axis)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("center,scale", [(False, True), (True, False), (False, False)])
@pytest.mark.parametrize("training", [True, False])
def test_without_center_or_scale(center, scale, training, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, 4, 6)).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    layer = compare(x, dy, random_weights(rng, 6, dtype, center, scale), training, center=center, scale=scale)
    assert layer.WEIGHT_ARGS == (("gamma",) if scale else ()) + (("beta",) if center else ()) + (
        "moving_mean", "moving_variance")
    assert len(layer.gradients) == center + scale


@pytest.mark.parametrize("dtype", DTYPES)
def test_frozen_layer_runs_in_inference_mode(dtype):
    """Keras 3: trainable=False means the moving statistics even with training=True, and no update."""
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((4, 5, 5, 3)) + 3).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    weights = random_weights(rng, 3, dtype)
    layer = compare(x, dy, weights, training=True, trainable=False)
    for w, w0 in zip(layer.get_weights(), weights):
        np.testing.assert_array_equal(w, w0)
    inference = BatchNormalization(dtype=dtype)
    inference.build((None, 5, 5, 3))
    inference.set_weights(weights)
    np.testing.assert_array_equal(layer.forward(x, training=True), inference.forward(x, training=False))
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 4


@pytest.mark.parametrize("dtype", DTYPES)
def test_moving_statistics_over_several_steps(dtype):
    """Three training calls, then inference: Keras's moving-average formula and order, biased variance."""
    rng = np.random.default_rng(3)
    keras_layer = keras.layers.BatchNormalization(momentum=0.9, dtype=np.dtype(dtype).name)
    ours = BatchNormalization(momentum=0.9, dtype=dtype)
    batches = [(rng.standard_normal((5, 4, 4, 3)) * 3 + i).astype(dtype) for i in range(3)]
    keras_layer.build(batches[0].shape)
    ours.build((None, 4, 4, 3))
    for batch in batches:
        keras_layer(batch, training=True)
        ours.forward(batch, training=True)
    for w, w_ref in zip(ours.get_weights(), keras_layer.get_weights()):
        assert_close("weights after 3 steps", w, w_ref, dtype)
    assert_close("inference", ours.forward(batches[0]), keras_layer(batches[0], training=False).numpy(), dtype)
    # by hand, one step from the initial (0, 1): the biased variance (/ N, not / (N - 1))
    fresh = BatchNormalization(momentum=0.9, dtype=dtype)
    fresh.forward(batches[0], training=True)
    rows = batches[0].astype(np.float64).reshape(-1, 3)  # (80, 3)
    assert_close("moving mean", fresh.moving_mean, 0.1 * rows.mean(axis=0), dtype)
    assert_close("moving variance", fresh.moving_variance, 0.9 + 0.1 * rows.var(axis=0), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("relu_max", [None, 6.0, 0.75])  # 0.75: Keras rounds max_value to float32
@pytest.mark.parametrize("training", [True, False])
def test_fused_relu_matches_keras_bn_then_relu(relu_max, training, dtype):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((3, 6, 5, 4)) * 4).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    weights = random_weights(rng, 4, dtype)
    weights[0] *= 4  # gamma: some outputs above 6
    compare(x, dy, weights, training, relu_max=relu_max)


def test_float32_statistics_of_offset_data():
    """Data far from 0 (mean 1000, std 1): the float64 sums keep the float32 statistics exact."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((64, 8, 8, 4)) + 1000).astype(np.float32)
    mean, var = batchnorm.batch_norm_moments(x)
    x64 = x.astype(np.float64).reshape(-1, 4)
    np.testing.assert_allclose(mean, x64.mean(axis=0), rtol=1e-7)
    np.testing.assert_allclose(var, x64.var(axis=0), rtol=1e-6)


@settings(max_examples=60)  # a Keras layer per example: ~0.1 s each
@given(rank=st.integers(2, 4), axis_pick=st.integers(0, 3), dims=st.lists(st.integers(1, 5), min_size=4, max_size=4),
       momentum=st.floats(0.0, 1.0), epsilon=st.floats(1e-5, 1.0), training=st.booleans(),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_property_matches_keras(rank, axis_pick, dims, momentum, epsilon, training, dtype, seed):
    rng = np.random.default_rng(seed)
    shape = (dims[0] + 1, *dims[1:rank])  # at least 2 in the batch
    axis = axis_pick % rank - (rank if axis_pick >= rank else 0)  # negative axes too
    axis = axis if axis != 0 and axis != -rank else -1  # not the batch axis
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    compare(x, dy, random_weights(rng, shape[axis], dtype), training,
            axis=axis, momentum=momentum, epsilon=epsilon)


@settings(max_examples=60)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=4), axis_pick=st.integers(0, 3),
       relu=st.sampled_from([False, None, 1.0]), training=st.booleans(), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**16))
def test_property_naive_equals_fast(shape, axis_pick, relu, training, dtype, seed):
    rng = np.random.default_rng(seed)
    axis = axis_pick % len(shape)
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    c = shape[axis]
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    args = dict(axis=axis, relu=relu is not False, max_value=relu or None)
    fast, loops = batchnorm.batch_norm_moments(x, axis), batchnorm.batch_norm_moments_naive(x, axis)
    mean, var = fast if training else (rng.standard_normal(c).astype(dtype), rng.uniform(0.1, 2, c).astype(dtype))
    y = batchnorm.batch_norm_forward(x, mean, var, gamma, beta, 1e-3, **args)
    y_naive = batchnorm.batch_norm_forward_naive(x, mean, var, gamma, beta, 1e-3, **args)
    grads = batchnorm.batch_norm_backward(dy, x, mean, var, gamma, 1e-3, training=training, y=y, **args)
    grads_naive = batchnorm.batch_norm_backward_naive(dy, x, mean, var, gamma, 1e-3, training=training, y=y, **args)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    names = ("mean", "var", "y", "dx", "dgamma", "dbeta")
    for name, a, b in zip(names, (*fast, y, *grads), (*loops, y_naive, *grads_naive)):
        assert_close(name, a, b, dtype, rtol)


def test_finite_differences_training_mode():
    """float64 central differences of L = sum(y * dy) for x, gamma and beta, training mode."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 2, 2, 3))
    dy = rng.standard_normal(x.shape)
    gamma, beta = rng.uniform(0.5, 2, 3), rng.standard_normal(3)

    def loss(x, gamma, beta):
        mean, var = batchnorm.batch_norm_moments(x)
        return float(np.sum(batchnorm.batch_norm_forward(x, mean, var, gamma, beta, 1e-3) * dy))

    mean, var = batchnorm.batch_norm_moments(x)
    dx, dgamma, dbeta = batchnorm.batch_norm_backward(dy, x, mean, var, gamma, 1e-3, training=True)
    h = 1e-6
    for name, value, grad in (("x", x, dx), ("gamma", gamma, dgamma), ("beta", beta, dbeta)):
        numeric = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            args = {"x": x, "gamma": gamma, "beta": beta}
            plus, minus = value.copy(), value.copy()
            plus[i] += h
            minus[i] -= h
            numeric[i] = (loss(**{**args, name: plus}) - loss(**{**args, name: minus})) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7, err_msg=name)


def test_errors_are_clear():
    with pytest.raises(TypeError, match="axis"):
        BatchNormalization(axis=[1])
    with pytest.raises(TypeError, match="momentum"):
        BatchNormalization(momentum="a")
    with pytest.raises(TypeError, match="epsilon"):
        BatchNormalization(epsilon=None)
    with pytest.raises(TypeError, match="epsilon"):
        BatchNormalization(epsilon="1e-3")
    with pytest.raises(ValueError, match="synchronized"):
        BatchNormalization(synchronized=True)
    with pytest.raises(TypeError, match="center"):
        BatchNormalization(center=1)
    with pytest.raises(ValueError, match="initializer"):
        BatchNormalization(gamma_initializer="onez")
    with pytest.raises(ValueError, match="axis=5"):
        BatchNormalization(axis=5).build((None, 4, 4, 3))
    with pytest.raises(ValueError, match="axis=-4"):
        BatchNormalization(axis=-4).compute_output_shape((None, 3, 2))
    layer = BatchNormalization()
    with pytest.raises(ValueError, match="forward"):
        layer.build((None, 3)) or layer.backward(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="3 channels"):
        layer.forward(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="rank"):
        layer.forward(np.zeros((2, 2, 3), np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        layer.forward(np.zeros((2, 3), np.int32))
    layer.forward(np.ones((2, 3), np.float32), training=True)
    with pytest.raises(ValueError, match="shape"):
        layer.backward(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="backward_with_relu"):
        layer.backward_with_relu(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="max_value"):
        layer.forward_with_relu(np.ones((2, 3), np.float32), max_value=-1.0)
    # the kernels' own checks, before any Numba code runs
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="mean must have shape"):
        batchnorm.batch_norm_forward(x, np.zeros(2), np.ones(3), None, None, 1e-3)
    with pytest.raises(TypeError, match="dtype"):
        batchnorm.batch_norm_forward(x, np.zeros(3, np.float32), np.ones(3), None, None, 1e-3)
    with pytest.raises(ValueError, match="axis=2"):
        batchnorm.batch_norm_moments(x, axis=2)


def test_weights_and_params_match_keras():
    keras_layer = keras.layers.BatchNormalization(axis=1)
    keras_layer.build((None, 5, 4, 4))
    ours = BatchNormalization(axis=1)
    ours.build((None, 5, 4, 4))
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in keras_layer.get_weights()]
    for w, w_ref in zip(ours.get_weights(), keras_layer.get_weights()):
        np.testing.assert_array_equal(w, w_ref)  # ones, zeros, zeros, ones
    assert ours.count_params() == keras_layer.count_params() == 20
    assert ours.WEIGHT_ARGS == ("gamma", "beta", "moving_mean", "moving_variance")
    assert ours.compute_output_shape((None, 5, 4, 4)) == (None, 5, 4, 4)


CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    import numba
    assert numba.config.DISABLE_JIT, "NUMBA_DISABLE_JIT did not reach the subprocess"
    from scratchconv.layers import BatchNormalization
    data = np.load(sys.argv[1] + "/inputs.npz")
    results = {}
    cases = [(-1, True, False), (1, True, False), (-1, False, False), (-1, True, True)]  # axis, training, relu
    for i, (axis, training, relu) in enumerate(cases):
        layer = BatchNormalization(axis=axis, dtype=data["x"].dtype)
        layer.build((None, *data["x"].shape[1:]))
        if relu:
            y = layer.forward_with_relu(data["x"], 6.0, training=training)
            dx = layer.backward_with_relu(data["dy"], y, 6.0)
        else:
            y = layer.forward(data["x"], training=training)
            dx = layer.backward(data["dy"])
        for j, a in enumerate([y, dx, *layer.gradients, *layer.weights]):
            results[f"{i}_{j}"] = a
    np.savez(sys.argv[1] + "/outputs.npz", **results)
    print("ran without JIT")
    """
)


def test_without_jit_equals_jitted(tmp_path):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((2, 3, 3, 3)) * 3).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    np.savez(tmp_path / "inputs.npz", x=x, dy=dy)
    (tmp_path / "child.py").write_text(CHILD)
    env = dict(os.environ, NUMBA_DISABLE_JIT="1",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, str(tmp_path / "child.py"), str(tmp_path)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"the no-JIT run failed:\n{done.stdout}\n{done.stderr}"
    assert "ran without JIT" in done.stdout
    outputs = np.load(tmp_path / "outputs.npz")
    cases = [(-1, True, False), (1, True, False), (-1, False, False), (-1, True, True)]  # as in CHILD
    for i, (axis, training, relu) in enumerate(cases):
        layer = BatchNormalization(axis=axis)
        layer.build((None, *x.shape[1:]))
        y = layer.forward_with_relu(x, 6.0, training=training) if relu else layer.forward(x, training=training)
        dx = layer.backward_with_relu(dy, y, 6.0) if relu else layer.backward(dy)
        for j, a in enumerate([y, dx, *layer.gradients, *layer.weights]):
            assert_close(f"case {i} array {j}: no-JIT vs jitted", outputs[f"{i}_{j}"], a, np.float32)
