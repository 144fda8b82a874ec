"""The one Keras reference: forward and every gradient of a kernel, computed by Keras.

    ref = keras_reference("depthwise", x, (depthwise_kernel,), bias, dy, strides=2, padding="same")
    ref.y                      # (N, H_out, W_out, C*M), Keras's forward
    ref.grads                  # (dx, ddepthwise_kernel, dbias): tf.GradientTape with dy as the
                               # upstream gradient; dbias is None when bias is None

    assert_matches_keras(case, scratchconv)   # forward + every gradient, dtype, shape, tolerance

``via`` chooses how Keras computes it:

- ``"ops"`` (default, fast): the ops Keras's layers call in ``call()``: ``keras.ops.conv``
  (Conv2D, and the 1x1 PointwiseConv2D), ``keras.ops.depthwise_conv`` (DepthwiseConv2D),
  ``keras.ops.separable_conv`` (SeparableConv2D), then ``+ bias``. One exception: a grouped
  conv2d runs as one ``keras.ops.conv`` per group on its channel slice, concatenated (the
  definition of groups). Keras's own grouped conv compiles a fresh XLA function on every
  call on CPU (about 1 s with gradients); ``test_reference_*`` in test_kernels_keras.py checks
  that the split equals it and that "ops" equals the Keras layers.
- ``"layer"``: builds the Keras layer itself (Conv2D, DepthwiseConv2D, SeparableConv2D) with
  ``set_weights`` and differentiates it; slower (tens of ms to build).
- ``"decomposed"``: for configurations TensorFlow's CPU kernels refuse but that are
  mathematically sound (conv2d with strides > 1 and dilation > 1, depthwise/separable with
  unequal strides) or where they are unsafe (float32 strided conv2d, see
  ``needs_decomposition``): pad explicitly with TensorFlow's documented
  'same' split (odd pixel bottom/right), run the op with strides 1 and 'valid', keep every
  s-th output row/column. A stride-s output pixel is exactly the stride-1 pixel at s*i on the
  same padded input, and the tape differentiates through the padding and the slicing.

Tolerances: ``atol = rtol * max(1, max|reference|)`` per array, rtol 1e-5 for float32 and
1e-10 for float64 unless the caller passes another (say why where you do).
"""

import os
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}


class DirectOpUnusable(ValueError):
    """The direct Keras op refuses this configuration or is unsafe on it (see needs_decomposition)."""


@dataclass
class Reference:
    y: np.ndarray
    grads: tuple  # (dx, d<weight>..., dbias or None)


def _pair(v):
    return (int(v), int(v)) if np.ndim(v) == 0 else (int(v[0]), int(v[1]))


def needs_decomposition(kind, dtype, strides=1, dilation_rate=1):
    """True where the direct Keras/TF op cannot serve as the reference (use via='decomposed').

    Refused by TF/Keras: conv2d with strides > 1 and dilation > 1 (Keras raises; TF's CPU
    backprop has no float64 dilated kernel); depthwise/separable with unequal row/column
    strides (TF's depthwise op refuses them; float32 through oneDNN computes them, but we do
    not lean on that).

    Unsafe: float32 conv2d with strides > 1. TF 2.21's oneDNN float32 filter gradient of a
    strided convolution corrupts memory in some shapes (segfault or abort, often a few calls
    later; e.g. x (1, 6, 7, 1), kernel (1, 1, 1, 1), strides (2, 1)).
    Decomposed, the same Keras op runs at stride 1, which ran 18,000 random cases cleanly.
    """
    (sh, sw), (dh, dw) = _pair(strides), _pair(dilation_rate)
    if kind == "conv2d":
        strided = max(sh, sw) > 1
        return (strided and max(dh, dw) > 1) or (strided and np.dtype(dtype) == np.float32)
    if kind in ("depthwise", "separable"):
        return sh != sw
    return False


def same_padding(size, k, s, d):
    """TensorFlow's 'same' padding along one axis: (before, after), the odd pixel after."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def _conv_ops(x, kernel, strides, padding, dilation_rate, groups):
    """keras.ops.conv, grouped by channel slices. x (N, H, W, C), kernel (kh, kw, C/G, F)."""
    if groups == 1:
        return keras.ops.conv(x, kernel, strides, padding, dilation_rate=dilation_rate)
    c_group = kernel.shape[2]
    f_group = kernel.shape[3] // groups
    outs = [
        keras.ops.conv(
            x[..., g * c_group : (g + 1) * c_group],  # (N, H, W, C/G)
            kernel[..., g * f_group : (g + 1) * f_group],  # (kh, kw, C/G, F/G)
            strides,
            padding,
            dilation_rate=dilation_rate,
        )
        for g in range(groups)
    ]
    return tf.concat(outs, axis=-1)  # (N, H_out, W_out, F)


def _op(kind, x, weights, strides, padding, dilation_rate, groups):
    """The Keras op behind the kind's layer, without bias."""
    if kind == "conv2d":
        return _conv_ops(x, weights[0], strides, padding, dilation_rate, groups)
    if kind == "pointwise":
        return keras.ops.conv(x, weights[0], 1, "valid")
    if kind == "depthwise":
        return keras.ops.depthwise_conv(x, weights[0], strides, padding, dilation_rate=dilation_rate)
    if kind == "separable":
        return keras.ops.separable_conv(x, weights[0], weights[1], strides, padding, dilation_rate=dilation_rate)
    raise ValueError(f"unknown kind {kind!r}")


def _decomposed(kind, x, weights, strides, padding, dilation_rate, groups):
    """Explicit TF padding, the op at stride 1 'valid', every s-th output kept."""
    if kind == "pointwise":
        return _op(kind, x, weights, 1, "valid", 1, 1)
    (sh, sw), (dh, dw) = strides, dilation_rate
    kh, kw = weights[0].shape[0], weights[0].shape[1]
    if padding == "same":
        top, bottom = same_padding(x.shape[1], kh, sh, dh)
        left, right = same_padding(x.shape[2], kw, sw, dw)
        x = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])  # (N, H_pad, W_pad, C)
    y1 = _op(kind, x, weights, 1, "valid", (dh, dw), groups)  # (N, H_pad - span + 1, W_pad - span + 1, .)
    return y1[:, ::sh, ::sw, :]  # (N, H_out, W_out, .)


def _layer(kind, dtype, x_shape, weights, bias, strides, padding, dilation_rate, groups):
    """The Keras layer holding exactly these weights."""
    common = dict(padding=padding, use_bias=bias is not None, dtype=dtype.name)
    kernel_size = weights[0].shape[:2]
    if kind == "conv2d":
        layer = keras.layers.Conv2D(
            weights[0].shape[3], kernel_size, strides=strides, dilation_rate=dilation_rate, groups=groups, **common
        )
    elif kind == "pointwise":
        layer = keras.layers.Conv2D(weights[0].shape[3], 1, **common)
    elif kind == "depthwise":
        layer = keras.layers.DepthwiseConv2D(
            kernel_size, strides=strides, dilation_rate=dilation_rate, depth_multiplier=weights[0].shape[3], **common
        )
    else:
        layer = keras.layers.SeparableConv2D(
            weights[1].shape[3], kernel_size, strides=strides, dilation_rate=dilation_rate,
            depth_multiplier=weights[0].shape[3], **common,
        )
    layer.build(x_shape)
    layer.set_weights(list(weights) + ([] if bias is None else [bias]))
    return layer


def keras_reference(kind, x, weights, bias, dy, *, strides=1, padding="valid", dilation_rate=1, groups=1, via="ops"):
    """Keras's forward y and gradients (dx, d<weight>..., dbias) for upstream gradient dy.

    Parameters
    ----------
    kind : 'conv2d', 'depthwise', 'pointwise' or 'separable'
    x : (N, H, W, C); weights : tuple of the forward's weight arrays (Keras layouts);
    bias : (n_out,) or None; dy : (N, H_out, W_out, n_out), same dtype as x
    strides, padding, dilation_rate, groups : as the scratchconv kernels take them
    via : 'ops', 'layer' or 'decomposed' (see the module docstring)

    Raises DirectOpUnusable for via='ops'/'layer' where ``needs_decomposition`` says so.
    """
    dtype = np.asarray(x).dtype
    strides, dilation_rate, padding = _pair(strides), _pair(dilation_rate), padding.lower()
    if via != "decomposed" and needs_decomposition(kind, dtype, strides, dilation_rate):
        raise DirectOpUnusable(
            f"the direct Keras op cannot be the reference for {dtype} {kind} with strides={strides}, "
            f"dilation_rate={dilation_rate}; use via='decomposed'"
        )
    xt = tf.constant(x)
    if via == "layer":
        layer = _layer(kind, dtype, x.shape, weights, bias, strides, padding, dilation_rate, groups)
        variables = [xt, *layer.trainable_weights]  # Keras order: weights..., bias
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = layer(xt)
    else:
        wt = [tf.constant(w) for w in weights]
        bt = [] if bias is None else [tf.constant(bias)]
        variables = [xt, *wt, *bt]
        run = _decomposed if via == "decomposed" else _op
        with tf.GradientTape() as tape:
            tape.watch(variables)
            y = run(kind, xt, wt, strides, padding, dilation_rate, groups)
            if bias is not None:
                y = y + bt[0]
    grads = tape.gradient(y, variables, output_gradients=tf.constant(dy))
    grads = [g.numpy() if g is not None else np.zeros(v.shape, dtype) for g, v in zip(grads, variables)]
    if bias is None:
        grads.append(None)
    return Reference(y.numpy(), tuple(grads))


def assert_close(name, actual, expected, rtol):
    """``actual`` has expected's dtype and shape and is within rtol * max(1, max|expected|).

    NaN and +-Inf must sit in the same places (NaN/Inf propagate as in Keras).
    """
    assert isinstance(actual, np.ndarray), f"{name}: expected an ndarray, got {type(actual).__name__}"
    assert actual.dtype == expected.dtype, f"{name}: dtype {actual.dtype}, Keras gives {expected.dtype}"
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape}, Keras gives {expected.shape}"
    finite = np.isfinite(expected)
    scale = float(np.max(np.abs(expected[finite]), initial=0.0))
    atol = rtol * max(1.0, scale)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol, equal_nan=True, err_msg=name)


def assert_matches(case, y, grads, ref, rtol=None):
    """Our y and grads equal the reference's: every array, dbias None exactly when bias is None."""
    rtol = RTOL[np.dtype(case.dtype)] if rtol is None else rtol
    assert_close("y", y, ref.y, rtol)
    assert isinstance(grads, tuple) and len(grads) == len(ref.grads), f"backward returned {type(grads)}"
    for name, ours, theirs in zip(case.names, grads, ref.grads):
        if theirs is None:
            assert ours is None, f"{name} must be None without a bias, got {type(ours).__name__}"
        else:
            assert_close(name, ours, theirs, rtol)


def assert_matches_keras(case, module, rtol=None, via="ops"):
    """``module``'s forward and backward on ``case`` equal Keras's (see keras_reference)."""
    ref = keras_reference(case.kind, case.x, case.weights, case.bias, case.dy, via=via, **case.config)
    assert_matches(case, case.forward(module), case.backward(module), ref, rtol)
    return ref
