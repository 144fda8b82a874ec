"""Regularizers, constraints and frozen layers against Keras, on the small network of keras_small_net.

Keras's train_on_batch returns the loss with the regularizers' penalties (computed on the weights
before the step), and projects each constrained weight after the step; scratchconv must give the
same loss and the same weights.
"""

import keras
import numpy as np
import pytest

from keras_small_net import assert_same_weights, batches, train_both, twins
from scratchconv.layers import Conv2D, Dense
from scratchconv.nn import keras_compile, optimizers, regularizers

R, C = keras.regularizers, keras.constraints


@pytest.fixture(autouse=True)
def float64_keras():
    keras.config.set_floatx("float64")
    yield
    keras.config.set_floatx("float32")


CASES = [
    (dict(kernel_regularizer="l2"), dict(kernel_regularizer=R.L1(0.02), bias_regularizer=R.L1L2(l1=0.01, l2=0.03))),
    (dict(bias_regularizer="l1", kernel_constraint=C.MaxNorm(0.5, axis=[0, 1, 2])),
     dict(kernel_constraint="non_neg", bias_constraint=C.UnitNorm(axis=0))),
    (dict(kernel_regularizer=R.L2(0.05), kernel_constraint=C.MinMaxNorm(0.2, 0.6, rate=0.5, axis=[0, 1, 2])),
     dict(kernel_regularizer={"class_name": "L2", "config": {"l2": 0.1}}, kernel_constraint="max_norm")),
]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_regularizers_and_constraints_equal_keras(case, optimizer):
    conv, dense = CASES[case]
    keras_model, model = twins(conv=conv, dense=dense)
    keras_model.compile(optimizer, "sparse_categorical_crossentropy")
    model.compile(optimizer, "sparse_categorical_crossentropy")
    for loss, loss_ref in train_both(keras_model, model):
        np.testing.assert_allclose(loss, loss_ref, rtol=1e-12)
    assert_same_weights(model, keras_model, what=f"case {case}")
    x, y = next(batches(seed=7))  # evaluate includes the penalty too
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0)[0], keras_model.evaluate(x, y, verbose=0), rtol=1e-12)


def test_regularized_gradients_equal_gradient_tape():
    import tensorflow as tf

    keras_model, model = twins(conv=dict(kernel_regularizer="l1"), dense=dict(kernel_regularizer="l2"))
    keras_model.compile("sgd", "sparse_categorical_crossentropy")
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = next(batches())
    with tf.GradientTape() as tape:
        loss_ref = keras_model.compute_loss(x, y, keras_model(x, training=True))
    grads_ref = tape.gradient(loss_ref, keras_model.trainable_weights)
    loss, grads = model.gradients_on_batch(x, y)
    np.testing.assert_allclose(loss, float(loss_ref), rtol=1e-12)
    for g, g_ref in zip(grads, grads_ref):
        np.testing.assert_allclose(g, g_ref.numpy(), rtol=0, atol=1e-12)


def test_frozen_conv2d_is_not_changed_but_passes_gradients_on():
    # trainable=False before compile, in both: the Conv2D keeps its weights (and its regularizer is not
    # counted: Keras penalises trainable weights only) while the Dense after it trains on the same dx.
    keras_model, model = twins(conv=dict(kernel_regularizer="l2"), dense=dict(kernel_regularizer="l2"))
    keras_model.layers[0].trainable = False
    model.layers[0].trainable = False
    before = model.layers[0].get_weights()
    keras_model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.compile(optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    assert len(model.trainable_weights) == len(keras_model.trainable_weights) == 2
    for loss, loss_ref in train_both(keras_model, model):
        np.testing.assert_allclose(loss, loss_ref, rtol=1e-12)
    assert_same_weights(model, keras_model)
    for w, w0 in zip(model.layers[0].get_weights(), before):
        np.testing.assert_array_equal(w, w0)
    x, y = next(batches())
    model.gradients_on_batch(x, y)
    assert np.abs(model.layers[0].gradients[0]).max() > 0  # its dx (and dW) still computed


def test_arguments_by_every_form_and_clear_errors():
    layer = Dense(3, kernel_regularizer=R.L2(0.5), bias_constraint={"class_name": "NonNeg", "config": {}})
    assert layer.regularizers["kernel"] == regularizers.L2(0.5) and isinstance(layer.constraints["bias"],
                                                                                  regularizers.NonNeg)
    assert regularizers.get_regularizer("l1").l1 == 0.01 and regularizers.get_regularizer("l1l2").l2 == 0
    with pytest.raises(TypeError, match="kernel_regulariser.*kernel_regularizer"):
        Dense(3, kernel_regulariser="l2")
    with pytest.raises(TypeError, match="unexpected keyword argument 'pointwise_regularizer'"):
        Conv2D(2, 3, pointwise_regularizer="l2")
    with pytest.raises(ValueError, match="activity_regularizer"):
        Dense(3, activity_regularizer="l2")
    with pytest.raises(ValueError, match="OrthogonalRegularizer"):
        Dense(3, kernel_regularizer=R.OrthogonalRegularizer())
    config = keras.layers.Dense(3, kernel_regularizer=R.OrthogonalRegularizer(), bias_regularizer="l2",
                                activity_regularizer="l1", kernel_constraint="unit_norm").get_config()
    problems = keras_compile.unsupported_arguments(Dense, config)
    assert len(problems) == 2 and any("kernel_regularizer: regularizer 'OrthogonalRegularizer'" in p for p in problems)
    assert any("activity_regularizer" in p for p in problems)
    assert keras_compile.unsupported_arguments(Dense, keras.layers.Dense(3, kernel_regularizer="l2").get_config()) == []
    layer = Dense(3, kernel_regularizer="l2", kernel_constraint=C.MaxNorm(3))
    rebuilt = Dense(3, **keras_compile.per_weight_config(layer))
    assert rebuilt.regularizers == layer.regularizers and rebuilt.constraints == layer.constraints
    assert set(keras_compile.per_weight_config(layer)) == set(keras_compile.per_weight_keys(Dense))
    keras_layer = keras.layers.Dense(3, **keras_compile.per_weight_config(layer))  # Keras reads the same configs
    assert keras_layer.get_config()["kernel_constraint"]["config"]["max_value"] == 3
