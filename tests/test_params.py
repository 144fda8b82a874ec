"""Parameter counting (scratchconv.params): the article's hand-derived numbers, Keras's
count_params() for every kind, the article's networks against Keras models built here, and
the ``scratchconv params`` command."""

import numpy as np
import pytest
import tensorflow as tf  # noqa: F401  (a missing TensorFlow is an error here, never a skip)
import keras
from hypothesis import given
from hypothesis import strategies as st

from scratchconv import cli, layers, params


def test_the_articles_worked_example_without_bias():
    # The article: one 5x5x3 input, 3x3 kernels, 4 output maps, weights only.
    assert params.conv2d_params(3, 3, 3, 4, use_bias=False) == 4 * 3 * 3 * 3 == 108
    assert params.depthwise_params(3, 3, 3, use_bias=False) == 3 * 3 * 3 == 27
    assert params.pointwise_params(3, 4, use_bias=False) == 1 * 1 * 3 * 4 == 12
    assert params.separable_params(3, 3, 3, 4, use_bias=False) == 27 + 12 == 39
    # One bias per output map.
    assert params.conv2d_params(3, 3, 3, 4) == 108 + 4
    assert params.depthwise_params(3, 3, 3) == 27 + 3
    assert params.pointwise_params(3, 4) == 12 + 4
    assert params.separable_params(3, 3, 3, 4) == 39 + 4  # one bias, after the pointwise step


def keras_count(layer, input_shape):
    layer.build(input_shape)
    return layer.count_params()


@given(kh=st.integers(1, 5), kw=st.integers(1, 5), groups=st.integers(1, 3), c_per_group=st.integers(1, 4),
       f_per_group=st.integers(1, 4), m=st.integers(1, 3), use_bias=st.booleans())
def test_every_count_equals_keras_count_params(kh, kw, groups, c_per_group, f_per_group, m, use_bias):
    c, f = groups * c_per_group, groups * f_per_group
    shape = (None, 9, 9, c)
    b = dict(use_bias=use_bias)
    cases = [
        (params.conv2d_params(kh, kw, c, f, groups, use_bias),
         keras.layers.Conv2D(f, (kh, kw), groups=groups, **b), layers.Conv2D(f, (kh, kw), groups=groups, **b)),
        (params.depthwise_params(kh, kw, c, m, use_bias),
         keras.layers.DepthwiseConv2D((kh, kw), depth_multiplier=m, **b),
         layers.DepthwiseConv2D((kh, kw), depth_multiplier=m, **b)),
        (params.pointwise_params(c, f, use_bias), keras.layers.Conv2D(f, 1, **b), layers.PointwiseConv2D(f, **b)),
        (params.separable_params(kh, kw, c, f, m, use_bias),
         keras.layers.SeparableConv2D(f, (kh, kw), depth_multiplier=m, **b),
         layers.SeparableConv2D(f, (kh, kw), depth_multiplier=m, **b)),
    ]
    for count, theirs, ours in cases:
        assert count == keras_count(theirs, shape) == keras_count(ours, shape)
    assert params.dense_params(c, f, use_bias) == keras_count(keras.layers.Dense(f, use_bias=use_bias), (None, c))


@given(kind=st.sampled_from(params.KINDS), kh=st.integers(1, 5), kw=st.integers(1, 5), c=st.integers(1, 6),
       f=st.integers(1, 6), m=st.integers(1, 3), use_bias=st.booleans())
def test_formula_terms_add_up_to_the_count(kind, kh, kw, c, f, m, use_bias):
    if kind == "pointwise":
        kh = kw = 1
    terms = params.formula_terms(kind, (kh, kw), c, f if kind != "depthwise" else c * m, m, 1, use_bias)
    expected = {
        "standard": lambda: params.conv2d_params(kh, kw, c, f, 1, use_bias),
        "pointwise": lambda: params.pointwise_params(c, f, use_bias),
        "depthwise": lambda: params.depthwise_params(kh, kw, c, m, use_bias),
        "separable": lambda: params.separable_params(kh, kw, c, f, m, use_bias),
    }[kind]()
    assert sum(t[3] for t in terms) == expected
    for _, _, numbers, value in terms:  # the printed numbers multiply out to the value
        factors = numbers.replace("(", "").replace(")", "").split("·")
        assert int(np.prod([int(v) for v in factors])) == value


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="kh"):
        params.conv2d_params(0, 3, 3, 4)
    with pytest.raises(ValueError, match="groups"):
        params.conv2d_params(3, 3, 3, 4, groups=2)
    with pytest.raises(TypeError, match="filters"):
        params.conv2d_params(3, 3, 3, 4.0)
    with pytest.raises(ValueError, match="depth_multiplier"):
        params.separable_params(3, 3, 3, 4, depth_multiplier=0)


# --------------------------------------------------------------------------- the article's networks


def fashion_mnist_keras(kind):
    """The article's Fashion-MNIST network, written out as in the article (not from params.py)."""
    conv = keras.layers.SeparableConv2D if kind == "separable" else keras.layers.Conv2D
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(filters=32, kernel_size=3, padding="same", activation="selu"),
        conv(filters=32, kernel_size=3, padding="same", activation="selu"),
        keras.layers.MaxPool2D(pool_size=2),
        conv(filters=64, kernel_size=3, padding="same", activation="selu"),
        conv(filters=64, kernel_size=3, padding="same", activation="selu"),
        keras.layers.MaxPool2D(pool_size=2),
        conv(filters=128, kernel_size=3, padding="same", activation="selu"),
        conv(filters=128, kernel_size=3, padding="same", activation="selu"),
        keras.layers.MaxPool2D(pool_size=2),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="selu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def monkeys_keras(kind="standard"):
    """The article's 10-monkeys network (128x128x3, six ReLU Conv2D; 'separable': SeparableConv2D after the first)."""
    layer = keras.layers.SeparableConv2D if kind == "separable" else keras.layers.Conv2D
    conv = lambda f: layer(filters=f, kernel_size=3, padding="same", activation="relu")  # noqa: E731
    first = keras.layers.Conv2D(filters=32, kernel_size=3, padding="same", activation="relu")
    return keras.Sequential([
        keras.Input((128, 128, 3)), first, conv(32), keras.layers.MaxPool2D(2), conv(64), conv(64),
        keras.layers.MaxPool2D(2), conv(128), conv(128), keras.layers.MaxPool2D(2), keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax"),
    ])


@pytest.mark.parametrize("kind, total", [("standard", 435_306), ("separable", 184_234)])
def test_fashion_mnist_table_equals_keras(kind, total):
    rows = params.fashion_mnist_table(kind)
    model = fashion_mnist_keras(kind)
    assert params.total_params(rows) == model.count_params() == total
    assert len(rows) == len(model.layers)
    for row, layer in zip(rows, model.layers):
        assert row.params == layer.count_params(), row
        assert row.output_shape == tuple(layer.output.shape), row
        assert row.layer in (type(layer).__name__, "MaxPool2D")  # Keras's class is MaxPooling2D


@pytest.mark.parametrize("kind, total", [("standard", 4_482_730), ("separable", 4_231_658)])
def test_monkeys_table_equals_keras(kind, total):
    rows = params.monkeys_table(kind)
    model = monkeys_keras(kind)
    assert params.total_params(rows) == model.count_params() == total
    assert [r.params for r in rows] == [layer.count_params() for layer in model.layers]
    assert [r.layer for r in rows][:2] == ["Conv2D", "SeparableConv2D" if kind == "separable" else "Conv2D"]


def test_tables_print_like_a_model_summary():
    text = params.format_table(params.fashion_mnist_table("separable"))
    assert "separable_conv2d_1 (SeparableConv2D)" in text and "(None, 14, 14, 64)" in text
    assert "Total params: 184,234" in text and "3·3·32·1 + 1·1·(32·1)·64 + 64" in text
    side = params.format_comparison(params.fashion_mnist_table("standard"), params.fashion_mnist_table("separable"))
    assert "435,306" in side and "184,234" in side and "0.42" in side  # 184234 / 435306


# --------------------------------------------------------------------------- scratchconv params


def run_cli(capsys, *argv):
    code = cli.main(["params", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_counts_the_articles_layers(capsys):
    code, out, _ = run_cli(capsys, "standard", "--no-bias")
    assert code == 0 and "3·3·3·4" in out and "= 108" in out and "3x3x4" in out  # 'valid' by default
    code, out, _ = run_cli(capsys, "separable", "--no-bias", "--padding", "same")
    assert code == 0 and "= 27" in out and "= 12" in out and "= 39" in out and "5x5x4" in out
    code, out, _ = run_cli(capsys, "depthwise", "--depth-multiplier", "2")
    assert code == 0 and "3·3·3·2" in out and "= 60" in out and "3x3x6" in out
    code, out, _ = run_cli(capsys, "pointwise", "--input", "28x28x32", "--filters", "64", "--strides", "2")
    assert code == 0 and "= 2,112" in out and "14x14x64" in out


def test_cli_counts_a_layer_of_the_fashion_mnist_network(capsys):
    code, out, _ = run_cli(capsys, "standard", "--input", "28x28x1", "--filters", "32", "--padding", "same")
    assert code == 0 and "= 320" in out and "28x28x32" in out


def test_cli_without_a_layer_prints_the_fashion_mnist_comparison(capsys):
    code, out, _ = run_cli(capsys)
    assert code == 0 and "435,306" in out and "184,234" in out
    code, out, _ = run_cli(capsys, "--model", "monkeys")
    assert code == 0 and "4,482,730" in out and "4,231,658" in out and "SeparableConv2D" in out


def test_cli_rejects_what_keras_rejects(capsys):
    code, _, err = run_cli(capsys, "standard", "--strides", "2", "--dilation", "2")
    assert code == 2 and "dilation_rate" in err
    code, _, err = run_cli(capsys, "standard", "--kernel", "7")
    assert code == 2 and "empty" in err
    code, _, err = run_cli(capsys, "standard", "--groups", "2")  # 3 input channels
    assert code == 2 and "groups" in err
    with pytest.raises(SystemExit):
        run_cli(capsys, "standard", "--input", "28x28")
