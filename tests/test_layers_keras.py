"""The layers (scratchconv.layers) against the Keras layers, holding identical weights.

For each kind, hypothesis draws a configuration (batch 1-3, rows/cols 1-12, channels 1-6,
kernels 1-5, strides 1-3, dilation 1-3, both paddings, depth multiplier 1-3, bias on/off,
every activation, both data formats, float32/float64), builds the Keras layer, gives it random
weights, copies Keras's ``get_weights()`` into ours with ``set_weights`` and compares the
output, dx and every weight gradient (``tf.GradientTape``, dy as the upstream gradient), the
output shape, ``compute_output_shape`` and ``count_params``.

Where TensorFlow's CPU kernels refuse (or get wrong) a configuration Keras accepts, the Keras
reference is computed another way, still by Keras layers (see ``keras_reference``):

- channels_first: TF's CPU Conv2D op takes only NHWC in float64 ("The Conv2D op currently
  only supports the NHWC tensor format"), and in float32 (oneDNN, TF 2.21 on this machine) it
  returns wrong numbers for NCHW in many configurations of Conv2D and SeparableConv2D, forward
  and gradients. Smallest case: Conv2D(2, 1, data_format='channels_first') on x = [[[[0.2739,
  -0.4604]]]], kernel [[[[-0.9181, -0.9669]]]], bias [0.6265, 0.8255]: filter 0 at the second
  pixel is -0.4604 * -0.9181 + 0.6265 = 1.0492 by hand and with channels_last; channels_first
  Keras says 1.2482. So the reference for channels_first is Keras's channels_last layer on the
  transposed input, transposed back, then the activation in the NCHW layout (where softmax
  takes the width axis, as Keras's channels_first layer does).
- DepthwiseConv2D/SeparableConv2D with unequal row/column strides: TF's depthwise op refuses
  them (float64; float32 happens to pass through oneDNN, we do not lean on it). The reference
  pads as TF's 'same' does, runs the Keras layer with strides 1 and 'valid', and keeps every
  s-th row/column (Keras's own stride+dilation decomposition does the same).

Grouped Conv2D compiles a fresh XLA function on every call of the Keras layer (about 1 s),
so groups > 1 has its own property with fewer examples.
"""

import numpy as np
import pytest
import tensorflow as tf  # noqa: F401  (a missing TensorFlow is an error here, never a skip)
import keras
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from scratchconv import layers

# Keras warns when softmax runs over an axis of size 1 (one output channel); drawn on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:You are using a softmax over axis -1:UserWarning")

RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}
ACTIVATIONS = (None, "linear", "relu", "selu", "softmax")
OURS = {"standard": layers.Conv2D, "pointwise": layers.PointwiseConv2D,
        "depthwise": layers.DepthwiseConv2D, "separable": layers.SeparableConv2D}
KERAS = {"standard": keras.layers.Conv2D, "pointwise": keras.layers.Conv2D,
         "depthwise": keras.layers.DepthwiseConv2D, "separable": keras.layers.SeparableConv2D}
ARGS = {  # the constructor arguments each kind takes (same names in Keras and scratchconv)
    "standard": ("filters", "kernel_size", "strides", "dilation_rate", "groups"),
    "pointwise": ("filters", "strides", "groups"),
    "depthwise": ("kernel_size", "strides", "dilation_rate", "depth_multiplier"),
    "separable": ("filters", "kernel_size", "strides", "dilation_rate", "depth_multiplier"),
}


def examples(fraction, minimum=5):
    """A fraction of the active hypothesis profile's max_examples, for the costly properties."""
    return max(minimum, round(settings.default.max_examples * fraction))


# --------------------------------------------------------------------------- configurations


@st.composite
def configs(draw, kind, grouped=False):
    """One layer configuration and its input shape; 'valid' windows always fit the input."""
    cfg = dict(kind=kind, dtype=draw(st.sampled_from(["float32", "float64"])),
               data_format=draw(st.sampled_from(["channels_last", "channels_first"])),
               padding=draw(st.sampled_from(["valid", "same"])), activation=draw(st.sampled_from(ACTIVATIONS)),
               use_bias=draw(st.booleans()), batch=draw(st.integers(1, 3)), seed=draw(st.integers(0, 2**32 - 1)))
    pair = lambda hi: (draw(st.integers(1, hi)), draw(st.integers(1, hi)))  # noqa: E731
    cfg["kernel_size"] = (1, 1) if kind == "pointwise" else pair(5)
    cfg["strides"] = pair(3)
    cfg["dilation_rate"] = (1, 1) if kind == "pointwise" else pair(3)
    if kind == "standard" and max(cfg["strides"]) > 1 and max(cfg["dilation_rate"]) > 1:
        cfg[draw(st.sampled_from(["strides", "dilation_rate"]))] = (1, 1)  # Keras rejects both at once
    groups = draw(st.integers(2, 3)) if grouped else 1
    cfg["groups"] = groups
    cfg["c"] = groups * draw(st.integers(1, 6 // groups))
    cfg["filters"] = groups * draw(st.integers(1, 6 // groups))
    cfg["depth_multiplier"] = draw(st.integers(1, 3))
    for axis, k, d in (("h", cfg["kernel_size"][0], cfg["dilation_rate"][0]),
                       ("w", cfg["kernel_size"][1], cfg["dilation_rate"][1])):
        span = (k - 1) * d + 1
        if cfg["padding"] == "valid":
            assume(span <= 12)
            cfg[axis] = draw(st.integers(span, 12))
        else:
            cfg[axis] = draw(st.integers(1, 12))
    return cfg


def input_shape(cfg, batch=None):
    n, h, w, c = (cfg["batch"] if batch is None else batch), cfg["h"], cfg["w"], cfg["c"]
    return (n, h, w, c) if cfg["data_format"] == "channels_last" else (n, c, h, w)


def kwargs(cfg, **override):
    cfg = {**cfg, **override}
    kw = {k: cfg[k] for k in ARGS[cfg["kind"]]}
    kw.update(padding=cfg["padding"], data_format=cfg["data_format"], activation=cfg["activation"],
              use_bias=cfg["use_bias"], dtype=cfg["dtype"])
    return kw


def keras_layer(cfg, **override):
    kw = kwargs(cfg, **override)
    if cfg["kind"] == "pointwise":
        kw["kernel_size"] = 1
    return KERAS[cfg["kind"]](**kw)


def our_layer(cfg, **override):
    return OURS[cfg["kind"]](**kwargs(cfg, **override))


# --------------------------------------------------------------------------- the Keras reference


def same_padding(size, k, s, d):
    """TensorFlow's documented 'same' padding along one axis: (before, after), odd pixel after."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def keras_reference(cfg, weights, x, dy):
    """Keras's y and [dx, d(weight) for each weight] for the layer cfg describes, holding weights."""
    kind, channels_first = cfg["kind"], cfg["data_format"] == "channels_first"
    sh, sw = cfg["strides"]
    subsample = kind in ("depthwise", "separable") and sh != sw
    via_nhwc = subsample or channels_first
    pads = [(0, 0), (0, 0), (0, 0), (0, 0)]  # explicit padding of the NHWC input
    if subsample and cfg["padding"] == "same":
        (kh, kw), (dh, dw) = cfg["kernel_size"], cfg["dilation_rate"]
        pads[1:3] = same_padding(cfg["h"], kh, sh, dh), same_padding(cfg["w"], kw, sw, dw)
    if via_nhwc:
        override = dict(data_format="channels_last", activation=None)
        if subsample:
            override.update(strides=(1, 1), padding="valid")
        layer = keras_layer(cfg, **override)
        layer.build((None, cfg["h"] + sum(pads[1]), cfg["w"] + sum(pads[2]), cfg["c"]))
    else:
        layer = keras_layer(cfg)
        layer.build(x.shape)
    layer.set_weights(weights)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        if via_nhwc:
            xin = tf.transpose(xt, (0, 2, 3, 1)) if channels_first else xt  # (N, H, W, C)
            xin = tf.pad(xin, pads)  # (N, H + pad, W + pad, C)
            z = layer(xin)
            if subsample:
                z = z[:, ::sh, ::sw, :]  # a stride-s output pixel is the stride-1 pixel at s*i
            z = tf.transpose(z, (0, 3, 1, 2)) if channels_first else z
            y = keras.activations.get(cfg["activation"])(z)
        else:
            y = layer(xt)
        loss = tf.reduce_sum(y * dy)  # so that dL/dy = dy
    grads = tape.gradient(loss, [xt, *layer.trainable_weights])
    return np.asarray(y), [np.asarray(g) for g in grads]


def assert_close(name, actual, expected, dtype, rtol=None):
    """Same shape and dtype, and |actual - expected| <= rtol * max(1, max|expected|)."""
    rtol = RTOL[np.dtype(dtype)] if rtol is None else rtol
    assert actual.shape == expected.shape, (name, actual.shape, expected.shape)
    assert actual.dtype == np.dtype(dtype), (name, actual.dtype)
    scale = max(1.0, float(np.abs(expected).max())) if expected.size else 1.0
    err = float(np.abs(actual.astype(np.float64) - expected).max()) if expected.size else 0.0
    assert err <= rtol * scale, f"{name}: max |difference| {err:.3g} > {rtol:.0e} * {scale:.3g}"


def random_weights(layer, rng):
    """Random values for every weight of a built Keras layer (biases too, so that they matter)."""
    return [rng.uniform(-1, 1, w.shape).astype(w.dtype) for w in layer.get_weights()]


def away_from_kinks(cfg, weights, x):
    """relu and selu have a kink at 0, where the two libraries may round to opposite sides
    and so pick different slopes; True when no pre-activation is within rounding of 0."""
    twin = our_layer(cfg, activation=None)
    twin.build(x.shape)
    twin.set_weights(weights)
    z = twin.forward(x)
    margin = {"float32": 1e-4, "float64": 1e-10}[cfg["dtype"]]
    return z.size == 0 or float(np.abs(z).min()) > margin * max(1.0, float(np.abs(z).max()))


def check_against_keras(cfg):
    rng = np.random.default_rng(cfg["seed"])
    dtype = np.dtype(cfg["dtype"])
    x = rng.uniform(-1, 1, input_shape(cfg)).astype(dtype)
    theirs = keras_layer(cfg)
    theirs.build(x.shape)
    weights = random_weights(theirs, rng)
    theirs.set_weights(weights)
    ours = our_layer(cfg)
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    if cfg["activation"] in ("relu", "selu"):
        assume(away_from_kinks(cfg, weights, x))

    assert ours.compute_output_shape(x.shape) == tuple(theirs.compute_output_shape(x.shape))
    assert ours.count_params() == theirs.count_params()
    y = ours.forward(x)
    dy = rng.uniform(-1, 1, y.shape).astype(dtype)
    dx = ours.backward(dy)
    y_ref, grads_ref = keras_reference(cfg, weights, x, dy)
    assert_close("y", y, y_ref, dtype)
    assert_close("dx", dx, grads_ref[0], dtype)
    assert len(ours.gradients) == len(grads_ref) - 1 == len(theirs.get_weights())
    for name, g, g_ref in zip(ours.weight_names, ours.gradients, grads_ref[1:]):
        assert_close("d" + name, g, g_ref, dtype)


# --------------------------------------------------------------------------- properties vs Keras


@pytest.mark.parametrize("kind", ["standard", "pointwise", "depthwise", "separable"])
@settings(max_examples=examples(0.5))  # half the profile: each example builds a Keras layer and a tape
@given(data=st.data())
def test_layer_matches_keras(kind, data):
    check_against_keras(data.draw(configs(kind)))


@pytest.mark.parametrize("kind", ["standard", "pointwise"])
@settings(max_examples=examples(0.03, minimum=3))  # Keras's grouped conv compiles XLA on every call (~1 s)
@given(data=st.data())
def test_grouped_layer_matches_keras(kind, data):
    check_against_keras(data.draw(configs(kind, grouped=True)))


@pytest.mark.parametrize("kind", ["depthwise", "separable"])
def test_unequal_strides_are_computed(kind):
    """A fixed case TensorFlow's depthwise op refuses in float64 ("Current implementation only
    supports equal length strides in the row and column dimensions"): we compute it, equal to
    the Keras decomposition (and to finite differences in test_gradients_match_finite_differences)."""
    cfg = dict(kind=kind, dtype="float64", data_format="channels_last", padding="same", activation="softmax",
               use_bias=True, batch=2, seed=7, kernel_size=(3, 2), strides=(1, 3), dilation_rate=(1, 1),
               groups=1, c=3, filters=4, depth_multiplier=2, h=7, w=8)
    check_against_keras(cfg)


# --------------------------------------------------------------------------- Keras's acceptance rules

small = st.integers(-1, 4)
window = st.one_of(small, st.tuples(small, small), st.tuples(small, small, small))


def outcome(make, shape, unknown_rows):
    """'ValueError', or what the built layer says: output shapes (also with unknown batch, rows
    and columns) and weight shapes."""
    try:
        layer = make()
        layer.build(shape)
        return (tuple(layer.compute_output_shape(shape)), tuple(layer.compute_output_shape(unknown_rows)),
                [tuple(w.shape) for w in layer.get_weights()])
    except ValueError:
        return "ValueError"


@pytest.mark.parametrize("kind", ["standard", "pointwise", "depthwise", "separable"])
@given(kernel_size=window, strides=window, dilation_rate=window, filters=small, groups=small,
       depth_multiplier=small, h=st.integers(1, 6), w=st.integers(1, 6), c=st.integers(1, 6),
       padding=st.sampled_from(["valid", "same", "SAME", "full"]),
       data_format=st.sampled_from(["channels_last", "channels_first"]))
def test_same_configurations_accepted_and_rejected_as_keras(kind, kernel_size, strides, dilation_rate, filters,
                                                             groups, depth_multiplier, h, w, c, padding, data_format):
    drawn = dict(kernel_size=kernel_size, strides=strides, dilation_rate=dilation_rate, filters=filters,
                 groups=groups, depth_multiplier=depth_multiplier)
    args = {k: v for k, v in drawn.items() if k in ARGS[kind]}
    args.update(padding=padding, data_format=data_format)
    keras_args = dict(args, kernel_size=1) if kind == "pointwise" else args
    if data_format == "channels_last":
        shape, unknown_rows = (None, h, w, c), (None, None, None, c)
    else:
        shape, unknown_rows = (None, c, h, w), (None, c, None, None)
    expected = outcome(lambda: KERAS[kind](**keras_args), shape, unknown_rows)
    assert outcome(lambda: OURS[kind](**args), shape, unknown_rows) == expected


REJECTED = [  # (kind, constructor arguments, input shape (None, H, W, C)): Keras raises ValueError
    ("standard", dict(filters=2, kernel_size=3, strides=2, dilation_rate=2), (None, 9, 9, 2)),
    ("standard", dict(filters=2, kernel_size=3, strides=(2, 1), dilation_rate=(1, 2)), (None, 9, 9, 2)),
    ("standard", dict(filters=0, kernel_size=3), (None, 5, 5, 2)),
    ("standard", dict(filters=3, kernel_size=3, groups=2), (None, 5, 5, 2)),
    ("standard", dict(filters=4, kernel_size=3, groups=2), (None, 5, 5, 3)),
    ("standard", dict(filters=4, kernel_size=3, groups=0), (None, 5, 5, 3)),
    ("standard", dict(filters=4, kernel_size=6), (None, 5, 5, 3)),
    ("standard", dict(filters=4, kernel_size=3, dilation_rate=3), (None, 6, 9, 3)),
    ("standard", dict(filters=4, kernel_size=(3, 3, 3)), (None, 5, 5, 3)),
    ("standard", dict(filters=4, kernel_size=(3, 0)), (None, 5, 5, 3)),
    ("standard", dict(filters=4, kernel_size=3, strides=0), (None, 5, 5, 3)),
    ("standard", dict(filters=4, kernel_size=3, padding="full"), (None, 5, 5, 3)),
    ("standard", dict(filters=4, kernel_size=3, data_format="nhwc"), (None, 5, 5, 3)),
    ("standard", dict(filters=4, kernel_size=3, activation="tanhh"), (None, 5, 5, 3)),
    ("standard", dict(filters=4, kernel_size=3, kernel_initializer="nope"), (None, 5, 5, 3)),
    ("standard", dict(filters=4, kernel_size=3), (None, 5, 5)),
    ("depthwise", dict(kernel_size=3, depth_multiplier=0), (None, 5, 5, 3)),
    ("depthwise", dict(kernel_size=3, dilation_rate=(1, 0)), (None, 5, 5, 3)),
    ("depthwise", dict(kernel_size=4, dilation_rate=2), (None, 5, 9, 3)),
    ("separable", dict(filters=0, kernel_size=3), (None, 5, 5, 3)),
    ("separable", dict(filters=2, kernel_size=3, depth_multiplier=-1), (None, 5, 5, 3)),
    ("separable", dict(filters=2, kernel_size=3, strides=-1), (None, 5, 5, 3)),
    ("separable", dict(filters=2, kernel_size=3, depthwise_initializer="nope"), (None, 5, 5, 3)),
]


@pytest.mark.parametrize("kind, args, shape", REJECTED)
def test_keras_rejects_and_so_do_we(kind, args, shape):
    for make in (KERAS[kind], OURS[kind]):
        with pytest.raises(ValueError):
            make(**args).build(shape)


def test_depthwise_layers_accept_strides_with_dilation_as_keras_does():
    for kind, args in (("depthwise", dict(kernel_size=3)), ("separable", dict(filters=2, kernel_size=3))):
        for make in (KERAS[kind], OURS[kind]):
            make(strides=2, dilation_rate=2, **args).build((None, 9, 9, 3))  # no error


@pytest.mark.parametrize("kind", ["standard", "depthwise", "separable"])
def test_calls_with_the_wrong_channels_are_rejected_as_keras_does(kind):
    cfg = dict(kind=kind, filters=2, kernel_size=2, strides=1, dilation_rate=1, groups=1, depth_multiplier=1,
               padding="valid", data_format="channels_last", activation=None, use_bias=True, dtype="float32")
    for layer in (keras_layer(cfg), our_layer(cfg)):
        layer.build((None, 5, 5, 3))
        with pytest.raises(ValueError):
            layer(np.zeros((1, 5, 5, 2), np.float32))


# --------------------------------------------------------------------------- weights, dtypes, edges


@pytest.mark.parametrize("kind", ["standard", "pointwise", "depthwise", "separable"])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_get_and_set_weights_round_trip_with_keras(kind, use_bias, dtype):
    cfg = dict(kind=kind, filters=4, kernel_size=(3, 2), strides=1, dilation_rate=1, groups=1, depth_multiplier=2,
               padding="same", data_format="channels_last", activation=None, use_bias=use_bias, dtype=dtype)
    theirs, ours = keras_layer(cfg), our_layer(cfg)
    theirs.build((None, 6, 6, 3))
    ours.build((None, 6, 6, 3))
    weights = random_weights(theirs, np.random.default_rng(0))
    theirs.set_weights(weights)
    ours.set_weights(theirs.get_weights())  # exactly what Keras's get_weights() returns
    for mine, keras_w in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        assert mine.dtype == keras_w.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(mine, keras_w)
    theirs.set_weights([w * 2 for w in ours.get_weights()])  # and Keras takes ours
    for mine, keras_w in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(2 * mine, keras_w)
    ours.get_weights()[0][...] = 0  # get_weights() returns copies
    assert np.abs(ours.weights[0]).max() > 0
    wrong_shape = [np.zeros(w.shape + (1,)) for w in theirs.get_weights()]
    for layer in (theirs, ours):
        with pytest.raises(ValueError):
            layer.set_weights(wrong_shape)
        with pytest.raises(ValueError):
            layer.set_weights(theirs.get_weights()[:-1])


@pytest.mark.parametrize("kind", ["standard", "pointwise", "depthwise", "separable"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_batch_of_zero_gives_empty_arrays_of_the_right_shape(kind, data_format):
    # Keras's layers fail here at run time (TF's ops return an empty tensor whose shape the bias
    # add refuses; the depthwise op even returns C instead of C*M channels). It is well defined,
    # so we compute it and check the shape against Keras's compute_output_shape.
    cfg = dict(kind=kind, filters=4, kernel_size=3, strides=2, dilation_rate=1, groups=1, depth_multiplier=2,
               padding="same", data_format=data_format, activation="selu", use_bias=True, dtype="float32",
               h=5, w=6, c=3)
    theirs, ours = keras_layer(cfg), our_layer(cfg)
    x = np.zeros(input_shape(cfg, batch=0), np.float32)
    y = ours(x)
    assert y.shape == tuple(theirs.compute_output_shape(x.shape)) and y.dtype == np.float32
    dx = ours.backward(np.zeros_like(y))
    assert dx.shape == x.shape and all(not g.any() for g in ours.gradients)


@pytest.mark.parametrize("kind", ["standard", "separable"])
def test_float64_input_is_cast_to_a_float32_layer_as_keras_does(kind):
    cfg = dict(kind=kind, filters=3, kernel_size=3, strides=1, dilation_rate=1, groups=1, depth_multiplier=1,
               padding="same", data_format="channels_last", activation="relu", use_bias=True, dtype="float32")
    theirs, ours = keras_layer(cfg), our_layer(cfg)
    x = np.random.default_rng(1).uniform(-1, 1, (2, 5, 5, 2))  # float64
    theirs.build(x.shape)
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    y_ref = np.asarray(theirs(x))
    assert y_ref.dtype == np.float32
    assert_close("y", ours(x), y_ref, np.float32)


def test_gradients_are_filled_in_place_in_get_weights_order():
    layer = layers.SeparableConv2D(4, 3, padding="same", seed=0)
    x = np.random.default_rng(2).standard_normal((2, 6, 6, 3)).astype(np.float32)
    y = layer(x)
    held = list(layer.gradients)  # an optimizer may keep these references
    layer.backward(np.ones_like(y))
    assert [g.shape for g in layer.gradients] == [w.shape for w in layer.get_weights()]
    assert all(a is b for a, b in zip(held, layer.gradients))
    assert held[2].sum() == pytest.approx(y.size)  # dbias = sum of dy over batch and pixels


def test_backward_needs_a_forward_and_a_dy_of_the_output_shape():
    layer = layers.Conv2D(2, 3)
    layer.build((None, 5, 5, 1))
    with pytest.raises(ValueError, match="forward"):
        layer.backward(np.zeros((1, 3, 3, 2), np.float32))
    layer.forward(np.zeros((1, 5, 5, 1), np.float32))
    with pytest.raises(ValueError, match="shape"):
        layer.backward(np.zeros((1, 5, 5, 2), np.float32))
    with pytest.raises(TypeError):
        layer.forward(np.zeros((1, 5, 5, 1), np.int32))


def test_seeded_layers_are_reproducible_and_initialised_as_keras_defaults():
    a, b = layers.Conv2D(8, 3, seed=5), layers.Conv2D(8, 3, seed=5)
    a.build((None, 6, 6, 4))
    b.build((None, 6, 6, 4))
    np.testing.assert_array_equal(a.weights[0], b.weights[0])
    limit = np.sqrt(6 / (3 * 3 * 4 + 3 * 3 * 8))  # glorot_uniform: fan_in = kh*kw*C, fan_out = kh*kw*F
    assert np.abs(a.weights[0]).max() <= limit and not a.weights[1].any()


# --------------------------------------------------------------------------- finite differences


@st.composite
def fd_configs(draw):
    kind = draw(st.sampled_from(["standard", "pointwise", "depthwise", "separable"]))
    cfg = draw(configs(kind))
    cfg.update(dtype="float64", activation=draw(st.sampled_from([None, "softmax"])))  # smooth: no kinks
    if kind in ("depthwise", "separable") and draw(st.booleans()):
        cfg["strides"] = (1, 3) if draw(st.booleans()) else (2, 1)  # what TF's depthwise op refuses
    return cfg


@settings(max_examples=examples(0.1))
@given(cfg=fd_configs())
def test_gradients_match_finite_differences(cfg):
    """Independent of Keras: L = sum(y * dy); central differences on a few entries of x and of
    every weight. h = 1e-6 in float64 leaves an error of about 1e-9 relative to the scale."""
    rng = np.random.default_rng(cfg["seed"])
    x = rng.uniform(-1, 1, input_shape(cfg))
    layer = our_layer(cfg)
    layer.build(x.shape)
    layer.set_weights([rng.uniform(-1, 1, w.shape) for w in layer.weights])
    dy = rng.uniform(-1, 1, layer.forward(x).shape)
    dx = layer.backward(dy)
    loss = lambda: float((layer.forward(x) * dy).sum())  # noqa: E731
    for array, grad in [(x, dx), *zip(layer.weights, layer.gradients)]:
        grad = grad.copy()
        scale = max(1.0, float(np.abs(grad).max()))
        for flat in rng.choice(array.size, size=min(array.size, 4), replace=False):
            i = np.unravel_index(flat, array.shape)
            keep = array[i]
            array[i] = keep + 1e-6
            up = loss()
            array[i] = keep - 1e-6
            down = loss()
            array[i] = keep
            assert abs((up - down) / 2e-6 - grad[i]) <= 1e-6 * scale
