"""Parameter counts for every kind of convolution, the article's networks as tables, and ``scratchconv params``.

The counts (kh x kw kernel, C input channels, F filters, M depth multiplier)::

    standard    kh·kw·(C/groups)·F           + F     bias
    depthwise   kh·kw·C·M                    + C·M   bias
    pointwise   1·1·(C/groups)·F             + F     bias
    separable   kh·kw·C·M + 1·1·(C·M)·F      + F     bias (one bias, after the pointwise step)
    dense       n_in·units                   + units bias

The article's worked example (5x5x3 input, 3x3 kernels, 4 filters, no bias):
standard 4·3·3·3 = 108, depthwise 3·3·3 = 27, pointwise 1·1·3·4 = 12,
separable 27 + 12 = 39. With biases every count equals Keras's ``count_params()``.
"""

from dataclasses import dataclass
from numbers import Integral

import numpy as np

from .kernels.arguments import conv_output_size  # noqa: F401  (re-exported: Keras's output size along one axis)

KINDS = ("standard", "depthwise", "pointwise", "separable")
DOT = "·"


# --------------------------------------------------------------------------- counting one layer


def _count(value, name):
    """A positive int (TypeError for other types, ValueError for <= 0)."""
    if not isinstance(value, (Integral, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def conv2d_params(kh, kw, c_in, filters, groups=1, use_bias=True):
    """Standard (grouped) convolution: kh·kw·(c_in/groups)·filters (+ filters)."""
    kh, kw, c_in, filters, groups = (_count(v, n) for v, n in
                                     zip((kh, kw, c_in, filters, groups), ("kh", "kw", "c_in", "filters", "groups")))
    if c_in % groups or filters % groups:
        raise ValueError(f"c_in ({c_in}) and filters ({filters}) must both be divisible by groups ({groups})")
    return kh * kw * (c_in // groups) * filters + (filters if use_bias else 0)


def depthwise_params(kh, kw, c, depth_multiplier=1, use_bias=True):
    """Depthwise convolution: kh·kw·c·M (+ c·M)."""
    kh, kw, c, m = (_count(v, n) for v, n in zip((kh, kw, c, depth_multiplier), ("kh", "kw", "c", "depth_multiplier")))
    return kh * kw * c * m + (c * m if use_bias else 0)


def pointwise_params(c_in, filters, use_bias=True):
    """Pointwise (1x1) convolution: 1·1·c_in·filters (+ filters)."""
    return conv2d_params(1, 1, c_in, filters, 1, use_bias)


def separable_params(kh, kw, c_in, filters, depth_multiplier=1, use_bias=True):
    """Separable convolution: depthwise kh·kw·c_in·M (no bias) + pointwise 1·1·(c_in·M)·filters (+ filters)."""
    depthwise = depthwise_params(kh, kw, c_in, depth_multiplier, use_bias=False)
    return depthwise + pointwise_params(c_in * depth_multiplier, filters, use_bias)


def dense_params(n_in, units, use_bias=True):
    """Dense layer: n_in·units (+ units)."""
    return _count(n_in, "n_in") * _count(units, "units") + (units if use_bias else 0)


def formula_terms(kind, kernel_size, channels, filters=None, depth_multiplier=1, groups=1, use_bias=True):
    """The count of one layer, term by term, to print.

    Returns [(what, symbols, numbers, value)], e.g. for the article's standard convolution
    ``[("kernel", "kh·kw·C·F", "3·3·3·4", 108), ("bias", "F", "4", 4)]``; the values sum to
    the matching ``*_params`` function.
    """
    (kh, kw), c, f, m, g = kernel_size, channels, filters, depth_multiplier, groups
    j = DOT.join
    if kind in ("standard", "pointwise"):
        c_sym, c_num = ("(C/groups)", f"({c}/{g})") if g > 1 else ("C", str(c))
        window = ["1", "1"] if kind == "pointwise" else ["kh", "kw"]
        terms = [("kernel", j([*window, c_sym, "F"]), j(map(str, [kh, kw])) + DOT + c_num + DOT + str(f),
                  kh * kw * (c // g) * f)]
        bias = ("bias", "F", str(f), f)
    elif kind == "depthwise":
        terms = [("depthwise kernel", "kh·kw·C·M", j(map(str, [kh, kw, c, m])), kh * kw * c * m)]
        bias = ("bias", "C·M", j(map(str, [c, m])), c * m)
    elif kind == "separable":
        terms = [
            ("depthwise kernel", "kh·kw·C·M", j(map(str, [kh, kw, c, m])), kh * kw * c * m),
            ("pointwise kernel", "1·1·(C·M)·F", f"1·1·({c}·{m})·{f}", c * m * f),
        ]
        bias = ("bias", "F", str(f), f)
    else:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return terms + [bias] if use_bias else terms


# --------------------------------------------------------------------------- model tables


@dataclass(frozen=True)
class Row:
    """One line of a model table, like a line of Keras's model.summary()."""

    name: str  # Keras's automatic name, e.g. 'separable_conv2d_1'
    layer: str  # Keras's class name, e.g. 'SeparableConv2D'
    output_shape: tuple  # (None, H, W, C) or (None, units)
    params: int
    formula: str  # e.g. '3·3·32·1 + 1·1·(32·1)·64 + 64'


KERAS_NAMES = {"Conv2D": "conv2d", "SeparableConv2D": "separable_conv2d", "DepthwiseConv2D": "depthwise_conv2d",
               "MaxPool2D": "max_pooling2d", "Flatten": "flatten", "Dense": "dense"}


def model_table(input_shape, layers):
    """Rows for a Sequential model of channels_last layers, counted by the functions above.

    input_shape: (H, W, C); layers: [(class name, kwargs)] with Keras's argument names, e.g.
    ``("SeparableConv2D", dict(filters=64, kernel_size=3, padding="same"))``.
    """
    shape = tuple(input_shape)  # (H, W, C), then (units,) after Flatten
    seen, rows = {}, []
    for layer, opts in layers:
        k = opts.get("kernel_size", 3)
        kh, kw = (k, k) if isinstance(k, int) else k
        if layer in ("Conv2D", "SeparableConv2D", "DepthwiseConv2D"):
            h, w, c = shape
            pad, s, m = opts.get("padding", "valid"), opts.get("strides", 1), opts.get("depth_multiplier", 1)
            out = conv_output_size(h, kh, s, 1, pad), conv_output_size(w, kw, s, 1, pad)
            if layer == "Conv2D":
                f, g = opts["filters"], opts.get("groups", 1)
                kind, n = "standard", conv2d_params(kh, kw, c, f, g, opts.get("use_bias", True))
            elif layer == "SeparableConv2D":
                f, g = opts["filters"], 1
                kind, n = "separable", separable_params(kh, kw, c, f, m, opts.get("use_bias", True))
            else:
                f, g = c * m, 1
                kind, n = "depthwise", depthwise_params(kh, kw, c, m, opts.get("use_bias", True))
            terms = formula_terms(kind, (kh, kw), c, f, m, g, opts.get("use_bias", True))
            shape, formula = (*out, f), " + ".join(t[2] for t in terms)
        elif layer == "MaxPool2D":
            h, w, c = shape
            p = opts.get("pool_size", 2)
            shape, n, formula = ((h - p) // p + 1, (w - p) // p + 1, c), 0, ""
        elif layer == "Flatten":
            shape, n, formula = (int(np.prod(shape)),), 0, ""
        elif layer == "Dense":
            units, use_bias = opts["units"], opts.get("use_bias", True)
            n = dense_params(shape[0], units, use_bias)
            formula = f"{shape[0]}{DOT}{units}" + (f" + {units}" if use_bias else "")
            shape = (units,)
        else:
            raise ValueError(f"model_table does not know layer {layer!r}")
        base = KERAS_NAMES[layer]
        name = base if base not in seen else f"{base}_{seen[base]}"
        seen[base] = seen.get(base, 0) + 1
        rows.append(Row(name, layer, (None, *shape), n, formula))
    return rows


def fashion_mnist_layers(kind="separable"):
    """The article's Fashion-MNIST network; kind='standard' swaps every SeparableConv2D for Conv2D."""
    if kind not in ("separable", "standard"):
        raise ValueError(f"kind must be 'separable' or 'standard', got {kind!r}")
    conv = "SeparableConv2D" if kind == "separable" else "Conv2D"
    c = lambda layer, f: (layer, dict(filters=f, kernel_size=3, padding="same", activation="selu"))  # noqa: E731
    pool = ("MaxPool2D", dict(pool_size=2))
    return [c("Conv2D", 32), c(conv, 32), pool, c(conv, 64), c(conv, 64), pool, c(conv, 128), c(conv, 128), pool,
            ("Flatten", {}), ("Dense", dict(units=128, activation="selu")),
            ("Dense", dict(units=10, activation="softmax"))]


def fashion_mnist_table(kind="separable"):
    """Rows for the article's Fashion-MNIST network (28x28x1): 184,234 params separable, 435,306 standard."""
    return model_table((28, 28, 1), fashion_mnist_layers(kind))


def monkeys_table(kind="standard", image_size=(128, 128), num_classes=10):
    """Rows for the article's 10-monkeys network (128x128x3, six ReLU Conv2D): 4,482,730 params;
    kind='separable' keeps the first Conv2D and swaps the other five for SeparableConv2D: 4,231,658."""
    if kind not in ("separable", "standard"):
        raise ValueError(f"kind must be 'separable' or 'standard', got {kind!r}")
    conv = "SeparableConv2D" if kind == "separable" else "Conv2D"
    c = lambda layer, f: (layer, dict(filters=f, kernel_size=3, padding="same", activation="relu"))  # noqa: E731
    pool = ("MaxPool2D", dict(pool_size=2))
    layers = [c("Conv2D", 32), c(conv, 32), pool, c(conv, 64), c(conv, 64), pool, c(conv, 128), c(conv, 128), pool,
              ("Flatten", {}), ("Dense", dict(units=128)), ("Dense", dict(units=num_classes))]
    return model_table((*image_size, 3), layers)


def total_params(rows):
    return sum(r.params for r in rows)


def _shape(shape):
    return "(" + ", ".join(str(s) for s in shape) + ")"


def format_table(rows, title=None):
    """A table like Keras's model.summary(): layer (type), output shape, param #, and the formula."""
    lines = [title] if title else []
    head = f"{'Layer (type)':<40}{'Output Shape':<22}{'Param #':>10}   Formula"
    lines += [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.name + ' (' + r.layer + ')':<40}{_shape(r.output_shape):<22}{r.params:>10,}   {r.formula}")
    lines += ["-" * len(head), f"Total params: {total_params(rows):,}"]
    return "\n".join(lines)


def format_comparison(standard_rows, separable_rows, labels=("standard", "separable")):
    """Two versions of one network side by side, layer by layer, with the ratio of their counts."""
    if [r.output_shape for r in standard_rows] != [r.output_shape for r in separable_rows]:
        raise ValueError("the two tables must have the same layers' output shapes")
    a, b = labels
    head = f"{'Output Shape':<22}{a + ' layer':<18}{'params':>10}   {b + ' layer':<18}{'params':>10}{'ratio':>8}"
    lines = [head, "-" * len(head)]
    for s, p in zip(standard_rows, separable_rows):
        ratio = f"{p.params / s.params:.2f}" if s.params else ""
        lines.append(f"{_shape(s.output_shape):<22}{s.layer:<18}{s.params:>10,}   {p.layer:<18}{p.params:>10,}{ratio:>8}")
    ts, tp = total_params(standard_rows), total_params(separable_rows)
    lines += ["-" * len(head), f"{'Total params':<40}{ts:>10,}   {'':<18}{tp:>10,}{tp / ts:>8.2f}"]
    return "\n".join(lines)
