"""Random kernel cases for the property tests: one ``Case`` = one call of a kernel.

A Case holds the input, the weights, the bias, the upstream gradient dy and the keyword
arguments of one call of a public kernel, for one of the four kinds::

    kind        forward / backward                                       weights
    conv2d      conv2d / conv2d_backward                                 kernel (kh, kw, C/groups, F)
    depthwise   depthwise_conv2d / depthwise_conv2d_backward             depthwise_kernel (kh, kw, C, M)
    pointwise   pointwise_conv2d / pointwise_conv2d_backward             kernel (1, 1, C, F)
    separable   separable_conv2d / separable_conv2d_backward             depthwise_kernel (kh, kw, C, M),
                                                                         pointwise_kernel (1, 1, C*M, F)

``case.forward(module)`` / ``case.backward(module)`` call the kernel from ``scratchconv``
(fast) or ``scratchconv.naive`` (loop by loop).

The output shape (needed for dy before any kernel runs) comes from TensorFlow's documented
formulas, written out here independently of ``scratchconv.kernels.arguments``:
'valid': ceil((size - (k - 1) * d) / s); 'same': ceil(size / s).

Array values are uniform in [-1, 1) from a drawn seed: hypothesis draws (and shrinks) the
shapes and configuration, numpy fills the arrays quickly; the seed makes the example
reproducible from the printed Case.
"""

from dataclasses import dataclass, field

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

KINDS = ("conv2d", "depthwise", "pointwise", "separable")
DTYPES = (np.float32, np.float64)

FUNCTION_NAMES = {  # kind -> (forward, backward)
    "conv2d": ("conv2d", "conv2d_backward"),
    "depthwise": ("depthwise_conv2d", "depthwise_conv2d_backward"),
    "pointwise": ("pointwise_conv2d", "pointwise_conv2d_backward"),
    "separable": ("separable_conv2d", "separable_conv2d_backward"),
}
WEIGHT_NAMES = {  # kind -> the forward's weight arguments, in order (bias follows)
    "conv2d": ("kernel",),
    "depthwise": ("depthwise_kernel",),
    "pointwise": ("kernel",),
    "separable": ("depthwise_kernel", "pointwise_kernel"),
}


def scaled_examples(fraction, minimum=10):
    """A fraction of the active profile's max_examples (for properties that cost more per example)."""
    return max(minimum, round(settings.default.max_examples * fraction))


def output_size(size, k, s, d, padding):
    """Output length along one axis, TensorFlow's formula (<= 0 means an empty output)."""
    if padding == "same":
        return -(-size // s)
    return -(-(size - (k - 1) * d) // s)


@dataclass
class Case:
    kind: str
    x: np.ndarray  # (N, H, W, C)
    weights: tuple  # see WEIGHT_NAMES
    bias: object  # (F,) / (C*M,) or None
    dy: np.ndarray  # (N, H_out, W_out, F or C*M)
    config: dict = field(default_factory=dict)  # strides, padding, dilation_rate (and groups for conv2d)
    seed: int = 0
    recipe: str = ""  # the make_case(...) call that rebuilds this case, for failure reports

    @property
    def dtype(self):
        return self.x.dtype

    @property
    def names(self):
        """Names of the backward's outputs: dx, one per weight, dbias."""
        return ("dx", *("d" + w for w in WEIGHT_NAMES[self.kind]), "dbias")

    def forward(self, module):
        """y from ``module``'s forward for this kind (module = scratchconv or scratchconv.naive)."""
        fn = getattr(module, FUNCTION_NAMES[self.kind][0])
        return fn(self.x, *self.weights, self.bias, **self.config)

    def backward(self, module, dy=None):
        """(dx, d<weight>..., dbias) from ``module``'s backward for this kind."""
        fn = getattr(module, FUNCTION_NAMES[self.kind][1])
        return fn(self.dy if dy is None else dy, self.x, *self.weights, self.bias, **self.config)

    def with_arrays(self, x=None, weights=None, bias=None, dy=None):
        """The same case with some arrays replaced."""
        return Case(
            self.kind,
            self.x if x is None else x,
            self.weights if weights is None else tuple(weights),
            self.bias if bias is None else bias,
            self.dy if dy is None else dy,
            dict(self.config),
            self.seed,
            self.recipe + " with arrays replaced" if self.recipe else "",
        )

    def _repr_pretty_(self, printer, cycle):
        """Hypothesis prints a failing Case with this (shapes, config and seed; not the arrays)."""
        printer.text(repr(self))

    def __repr__(self):
        if self.recipe:
            return self.recipe
        shapes = ", ".join(f"{n}={w.shape}" for n, w in zip(WEIGHT_NAMES[self.kind], self.weights))
        bias = None if self.bias is None else self.bias.shape
        return (
            f"Case({self.kind}, {self.dtype}, x={self.x.shape}, {shapes}, bias={bias}, "
            f"dy={self.dy.shape}, {self.config}, seed={self.seed})"
        )


def make_case(kind, dtype, n, h, w, c, *, kernel_hw=(1, 1), out=1, multiplier=1, groups=1,
              strides=(1, 1), dilation_rate=(1, 1), padding="valid", bias=True, seed=0):
    """A Case from explicit sizes (used by the strategy below and by hand-picked cases).

    ``out`` is F (conv2d, pointwise, separable); ``multiplier`` is M (depthwise, separable).
    """
    rng = np.random.default_rng(seed)

    def uniform(*shape):
        return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)

    kh, kw = kernel_hw
    if kind == "pointwise":
        kh = kw = 1
        strides, dilation_rate, padding = (1, 1), (1, 1), "valid"
    oh = output_size(h, kh, strides[0], dilation_rate[0], padding)
    ow = output_size(w, kw, strides[1], dilation_rate[1], padding)
    x = uniform(n, h, w, c)  # (N, H, W, C)
    config = dict(strides=tuple(strides), padding=padding, dilation_rate=tuple(dilation_rate))
    if kind == "conv2d":
        weights = (uniform(kh, kw, c // groups, out),)  # (kh, kw, C/groups, F)
        config["groups"] = groups
        n_out = out
    elif kind == "depthwise":
        weights = (uniform(kh, kw, c, multiplier),)  # (kh, kw, C, M)
        n_out = c * multiplier
    elif kind == "pointwise":
        weights = (uniform(1, 1, c, out),)  # (1, 1, C, F)
        config = {}
        n_out = out
    else:
        weights = (uniform(kh, kw, c, multiplier), uniform(1, 1, c * multiplier, out))
        n_out = out
    b = uniform(n_out) if bias else None  # (n_out,)
    dy = uniform(n, max(oh, 0), max(ow, 0), n_out)  # (N, H_out, W_out, n_out)
    recipe = (
        f"make_case({kind!r}, np.{np.dtype(dtype).name}, {n}, {h}, {w}, {c}, kernel_hw={(kh, kw)}, out={out}, "
        f"multiplier={multiplier}, groups={groups}, strides={tuple(strides)}, dilation_rate={tuple(dilation_rate)}, "
        f"padding={padding!r}, bias={bool(bias)}, seed={seed})"
    )
    return Case(kind, x, weights, b, dy, config, seed, recipe)


@st.composite
def _window_axis(draw, size, padding, max_kernel, max_dilation):
    """(k, d) for one axis; with 'valid' the dilated window fits in ``size``."""
    if padding == "same":
        return draw(st.integers(1, max_kernel)), draw(st.integers(1, max_dilation))
    k = draw(st.integers(1, min(max_kernel, size)))
    if k == 1:
        return k, draw(st.integers(1, max_dilation))
    return k, draw(st.integers(1, max(1, min(max_dilation, (size - 1) // (k - 1)))))


@st.composite
def cases(draw, kind, *, dtypes=DTYPES, tf_computable=False, max_batch=3, max_size=12, max_channels=6,
          max_kernel=5, max_stride=3, max_dilation=3, max_multiplier=3, winograd=False):
    """A random Case of ``kind`` whose output is not empty.

    Ranges (issue 2, section 6): batch 1-3, H and W 1-12 independently, channels 1-6, kernel
    1-5 per axis, strides 1-3 per axis, dilation 1-3 per axis, both paddings, depth multiplier
    1-3, groups dividing C and F, bias on/off, float32 and float64.

    ``tf_computable=True`` keeps to configurations TensorFlow's CPU kernels compute, so that
    Keras can serve as the reference:
    - conv2d: not strides > 1 together with dilation > 1 (Keras refuses them), and in float32
      no strides > 1 (TF's oneDNN strided filter gradient corrupts memory, see
      keras_reference.needs_decomposition; those cases go through the decomposed reference);
    - depthwise/separable: equal row and column strides (TF's depthwise op refuses unequal ones).
    The other configurations are drawn by the default (naive vs fast, finite differences).

    ``winograd=True`` draws only what Winograd's F(m x m, 3 x 3) computes: 3x3 kernels, strides
    1 and dilation 1 (with 'valid', H and W at least 3).
    """
    dtype = draw(st.sampled_from(dtypes))
    n = draw(st.integers(1, max_batch))
    h = draw(st.integers(1, max_size))
    w = draw(st.integers(1, max_size))
    padding = draw(st.sampled_from(["valid", "same"]))
    if winograd:
        h, w = (h, w) if padding == "same" else (max(h, 3), max(w, 3))
        max_kernel, max_dilation, max_stride = 3, 1, 1
    (kh, dh), (kw, dw) = draw(_window_axis(h, padding, max_kernel, max_dilation)), draw(
        _window_axis(w, padding, max_kernel, max_dilation)
    )
    if winograd:
        kh = kw = 3
    sh = draw(st.integers(1, max_stride))
    sw = sh if tf_computable and kind in ("depthwise", "separable") else draw(st.integers(1, max_stride))
    if tf_computable and kind == "conv2d" and max(sh, sw) > 1 and max(dh, dw) > 1:
        # Keep half the cases strided and half dilated rather than rejecting most of them.
        if draw(st.booleans()):
            sh = sw = 1
        else:
            dh = dw = 1
    if tf_computable and kind == "conv2d" and dtype == np.float32:
        sh = sw = 1  # TF's oneDNN float32 strided filter gradient is unsafe (keras_reference.needs_decomposition)
    groups, multiplier, out = 1, 1, 1
    if kind == "conv2d":
        groups = draw(st.sampled_from([1, 1, 1, 2, 3, 4, 5, 6]))
        groups = min(groups, max_channels)
        c = groups * draw(st.integers(1, max_channels // groups))
        out = groups * draw(st.integers(1, max_channels // groups))
    else:
        c = draw(st.integers(1, max_channels))
        out = draw(st.integers(1, max_channels))
        multiplier = draw(st.integers(1, max_multiplier))
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return make_case(
        kind, dtype, n, h, w, c, kernel_hw=(kh, kw), out=out, multiplier=multiplier, groups=groups,
        strides=(sh, sw), dilation_rate=(dh, dw), padding=padding, bias=bias, seed=seed,
    )
