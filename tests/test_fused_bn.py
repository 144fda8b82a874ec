"""Sequential's fusions (scratchconv.nn.fusion: BatchNormalization + ReLU, ZeroPadding2D folded
into a DepthwiseConv2D) against the layers run one by one.

The fused model must give the same loss, the same gradients and the same moving statistics as
each layer's own forward and backward (float64, to 1e-12: the same sums in the same order, so
in practice bit for bit), and each layer must still work alone after a fused forward.
"""

import numpy as np
import pytest

from scratchconv import layers as L
from scratchconv.kernels import batchnorm
from scratchconv.nn import fusion
from scratchconv.nn.model import Sequential
from scratchconv.nn.networks import mobilenet_model


def _one_by_one(model, x, targets):
    """(per-sample losses, gradients) from every layer's own forward and backward, nothing fused."""
    a = x
    for layer in model.layers:
        a = layer.forward(a, training=True)
    last = model.layers[-1]
    if model._fused_softmax():
        sample_losses, d = model.loss.from_logits(last.preactivation, targets)
        d = last.backward_preactivation(d)
    else:
        sample_losses, d = model.loss.from_outputs(a, targets)
        d = last.backward(d)
    for layer in reversed(model.layers[:-1]):
        d = layer.backward(d)
    return sample_losses, [g.copy() for g in model.gradients]


def _twins(build):
    fused, alone = build(), build()
    alone.set_weights(fused.get_weights())
    for model in (fused, alone):
        model.compile("sgd", "sparse_categorical_crossentropy")
    return fused, alone


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fused_mobilenet_matches_layer_by_layer(dtype):
    fused, alone = _twins(lambda: mobilenet_model((32, 32, 3), alpha=0.25, dropout=0.0, classes=5, seed=3,
                                                  dtype=dtype))
    assert len(fusion.batchnorm_relu_pairs(fused.layers)) == 27  # conv1 and 13 blocks x 2
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 32, 32, 3)).astype(dtype)
    targets = fused.loss.check_targets(rng.integers(0, 5, 6), 6, 5, "y")
    for step in range(2):  # the second step from the moving statistics and weights the first left
        _, losses_fused = fused.forward_backward(x, targets)
        assert sorted(kind for kind, *_ in fused._fused.values()).count("pad") == 4  # blocks 2, 4, 6, 12
        losses_alone, grads_alone = _one_by_one(alone, x, targets)
        np.testing.assert_allclose(losses_fused, losses_alone, rtol=1e-12, atol=0)
        for g_fused, g_alone in zip(fused.gradients, grads_alone):
            np.testing.assert_allclose(g_fused, g_alone, rtol=1e-12, atol=1e-12)
        for w_fused, w_alone in zip(fused.non_trainable_weights, alone.non_trainable_weights):
            np.testing.assert_array_equal(w_fused, w_alone)  # the moving statistics
        for model in (fused, alone):
            model.optimizer.apply(model.trainable_weights, model.gradients)
    inference = x
    for layer in alone.layers:  # inference mode, one layer at a time
        inference = layer.forward(inference)
    np.testing.assert_array_equal(fused.predict(x, verbose=0), inference)


def _small(relu, dtype="float64"):
    return Sequential([L.Conv2D(4, 3, padding="same", use_bias=False, input_shape=(6, 6, 2), seed=1, dtype=dtype),
                       L.BatchNormalization(dtype=dtype), relu,
                       L.GlobalAveragePooling2D(dtype=dtype), L.Dense(3, activation="softmax", seed=2, dtype=dtype)])


@pytest.mark.parametrize("relu, fused", [(lambda: L.ReLU(dtype="float64"), True),
                                         (lambda: L.ReLU(6.0, dtype="float64"), True),
                                         (lambda: L.ReLU(3.0, dtype="float64"), False),  # TF's clipped relu
                                         (lambda: L.ReLU(negative_slope=0.1, dtype="float64"), False)])
def test_which_relus_fuse_and_their_gradients(relu, fused):
    model_fused, alone = _twins(lambda: _small(relu()))
    assert bool(fusion.batchnorm_relu_pairs(model_fused.layers)) == fused
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 6, 6, 2)) * 3
    targets = model_fused.loss.check_targets(rng.integers(0, 3, 5), 5, 3, "y")
    model_fused.forward_backward(x, targets)
    grads_alone = _one_by_one(alone, x, targets)[1]
    for g_fused, g_alone in zip(model_fused.gradients, grads_alone):
        np.testing.assert_allclose(g_fused, g_alone, rtol=1e-12, atol=1e-12)


def test_layers_still_work_alone_after_a_fused_forward():
    model = _small(L.ReLU(6.0, dtype="float64"))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 6, 6, 2)) * 3
    model.forward(x, training=True)
    conv, bn, relu = model.layers[:3]
    z = conv.forward(x)  # the BatchNormalization's input
    y = relu.forward(bn.forward(z, training=True))
    dy = rng.standard_normal(y.shape)
    model.forward(x, training=True)  # fused again: the ReLU holds the fused output
    np.testing.assert_array_equal(relu.backward(dy), np.where((y > 0) & (y < 6), dy, 0))
    dz = bn.backward(dy)  # plain backward after forward_with_relu: dy is the normalised output's gradient
    np.testing.assert_allclose(dz, batchnorm.batch_norm_backward_naive(
        dy, z, *batchnorm.batch_norm_moments(z), bn.gamma, bn.epsilon)[0], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("training", [True, False])
def test_backward_with_relu_non_finite_dy_is_the_select(training):
    """A non-finite dy where the mask is 0 gives 0 there (TensorFlow's Relu6Grad), not NaN."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 3)).astype(np.float32) * 4
    mean, variance = batchnorm.batch_norm_moments(x)
    gamma, beta = np.ones(3, np.float32), np.zeros(3, np.float32)
    y = batchnorm.batch_norm_forward(x, mean, variance, gamma, beta, 1e-3, relu=True, max_value=6.0)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    dy[np.nonzero(y[:, 0] == 0)[0][:2], 0] = [np.inf, np.nan]  # where the relu passes nothing
    args = (dy, x, mean, variance, gamma, 1e-3, -1, training, y, True, 6.0)
    for fast, naive in zip(batchnorm.batch_norm_backward(*args), batchnorm.batch_norm_backward_naive(*args)):
        assert np.isfinite(fast).all()
        np.testing.assert_allclose(fast, naive, rtol=2e-5, atol=2e-5)  # float32 sums in another order


@pytest.mark.parametrize("size, folds", [(8, True), (7, False)])  # 7: 'same' pads (1, 1), not (0, 1)
def test_zero_padding_folds_into_depthwise_only_where_same_pads_alike(size, folds):
    def build():
        return Sequential([L.ZeroPadding2D(((0, 1), (0, 1)), input_shape=(size, size, 3), dtype="float64"),
                           L.DepthwiseConv2D(3, strides=2, padding="valid", use_bias=False, seed=4, dtype="float64"),
                           L.Flatten(dtype="float64"), L.Dense(2, activation="softmax", seed=5, dtype="float64")])
    model, alone = _twins(build)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, size, size, 3))
    targets = model.loss.check_targets(rng.integers(0, 2, 3), 3, 2, "y")
    model.forward_backward(x, targets)
    assert (0 in model._fused) == folds
    for g_fused, g_alone in zip(model.gradients, _one_by_one(alone, x, targets)[1]):
        np.testing.assert_allclose(g_fused, g_alone, rtol=1e-12, atol=1e-12)
    pad, depthwise = model.layers[:2]
    dy = rng.standard_normal(depthwise.compute_output_shape(pad.compute_output_shape(x.shape)))
    if folds:
        assert depthwise.backward(dy).shape == x.shape  # the unpadded input's dx
    padded = rng.standard_normal(pad.compute_output_shape(x.shape))
    np.testing.assert_array_equal(pad.backward(padded), padded[:, :size, :size])  # works alone after the fold
    np.testing.assert_array_equal(depthwise.forward(pad.forward(x)), alone.layers[1].forward(alone.layers[0].forward(x)))


@pytest.mark.parametrize("max_value", [None, 6.0])
def test_the_forwards_mask_gives_what_y_gives(max_value):
    """backward_with_relu reads the byte mask the forward wrote when given the forward's own y;
    a copy of y takes the other path (the mask from y): both must agree exactly."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((3, 5, 5, 4)) * 4).astype(np.float32)
    layer = L.BatchNormalization()
    y = layer.forward_with_relu(x, max_value, training=True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dy.reshape(-1)[np.flatnonzero(y == 0)[:1]] = np.inf  # masked: 0 in both paths
    from_mask = layer.backward_with_relu(dy, y, max_value), *map(np.copy, layer.gradients)
    from_y = layer.backward_with_relu(dy, y.copy(), max_value), *map(np.copy, layer.gradients)
    for a, b in zip(from_mask, from_y):
        assert np.isfinite(a).all()
        np.testing.assert_array_equal(a, b)
