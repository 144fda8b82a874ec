"""``scratchconv params``: count the parameters of a layer you describe, or print the article's networks.

    scratchconv params                                    # Fashion-MNIST network, Conv2D vs SeparableConv2D
    scratchconv params separable --no-bias --padding same # the article's 27 + 12 = 39
"""

import argparse
import sys

from ..layers import Conv2D, DepthwiseConv2D, PointwiseConv2D, SeparableConv2D
from ..params import (KINDS, fashion_mnist_table, format_comparison, format_table, formula_terms,
                      monkeys_table)


def _dims(text, n_allowed, name):
    """'3' -> (3, 3); '3x5' -> (3, 5); '28x28x1' -> (28, 28, 1)."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} must be ints joined by 'x' (e.g. 3 or 3x3), got {text!r}") from None
    if len(values) == 1 and 2 in n_allowed:
        values = values * 2
    if len(values) not in n_allowed or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{name} must be {'x'.join(['N'] * max(n_allowed))} with positive ints, got {text!r}")
    return values


def add_arguments(parser):
    parser.description = (
        "Count the parameters of one convolution layer (formula, numbers and output shape), or with "
        "no KIND print the article's Fashion-MNIST network, Conv2D vs SeparableConv2D."
    )
    parser.add_argument("kind", nargs="?", choices=KINDS, help="the kind of convolution to count")
    parser.add_argument("--input", default="5x5x3", type=lambda t: _dims(t, (3,), "--input"),
                        metavar="HxWxC", help="input shape, channels last (default: the article's 5x5x3)")
    parser.add_argument("--filters", type=int, default=4, help="output channels F (default 4)")
    parser.add_argument("--kernel", type=lambda t: _dims(t, (1, 2), "--kernel"), default=None, metavar="K|KHxKW",
                        help="kernel size (default 3, or 1 for pointwise)")
    parser.add_argument("--depth-multiplier", type=int, default=1, help="M, depthwise/separable (default 1)")
    parser.add_argument("--groups", type=int, default=1, help="groups, standard/pointwise (default 1)")
    parser.add_argument("--bias", action=argparse.BooleanOptionalAction, default=True, help="count a bias (default on)")
    parser.add_argument("--strides", type=lambda t: _dims(t, (1, 2), "--strides"), default=(1, 1), metavar="S|SHxSW")
    parser.add_argument("--dilation", type=lambda t: _dims(t, (1, 2), "--dilation"), default=(1, 1), metavar="D|DHxDW")
    parser.add_argument("--padding", choices=("valid", "same"), default="valid", help="(default valid, as Keras)")
    parser.add_argument("--model", choices=("both", "standard", "separable", "monkeys"), default="both",
                        help="without KIND: which network table to print (default both Fashion-MNIST versions; "
                             "monkeys: both 10-monkeys versions)")


def describe_layer(kind, input_shape, filters=4, kernel_size=None, depth_multiplier=1, groups=1, use_bias=True,
                   strides=(1, 1), dilation_rate=(1, 1), padding="valid"):
    """The text `scratchconv params KIND ...` prints. Builds the matching scratchconv layer, so Keras's
    acceptance rules apply (ValueError/TypeError for what Keras rejects)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    kernel_size = tuple(kernel_size or ((1, 1) if kind == "pointwise" else (3, 3)))
    if kind == "pointwise" and (kernel_size != (1, 1) or tuple(dilation_rate) != (1, 1)):
        raise ValueError(f"a pointwise convolution has a 1x1 kernel and no dilation, got kernel {kernel_size}")
    if groups != 1 and kind in ("depthwise", "separable"):
        raise ValueError(f"groups applies to standard and pointwise convolutions only, got groups={groups} for {kind}")
    if depth_multiplier != 1 and kind in ("standard", "pointwise"):
        raise ValueError(f"depth_multiplier applies to depthwise and separable only, got {depth_multiplier} for {kind}")
    common = dict(strides=tuple(strides), padding=padding, use_bias=use_bias)
    if kind == "standard":
        layer = Conv2D(filters, kernel_size, dilation_rate=tuple(dilation_rate), groups=groups, **common)
    elif kind == "pointwise":
        layer = PointwiseConv2D(filters, groups=groups, **common)
    elif kind == "depthwise":
        layer = DepthwiseConv2D(kernel_size, depth_multiplier=depth_multiplier, dilation_rate=tuple(dilation_rate),
                                **common)
    else:
        layer = SeparableConv2D(filters, kernel_size, depth_multiplier=depth_multiplier,
                                dilation_rate=tuple(dilation_rate), **common)
    h, w, c = input_shape
    layer.build((None, h, w, c))
    out = layer.compute_output_shape((None, h, w, c))
    f = out[3]
    terms = formula_terms(kind, kernel_size, c, f, depth_multiplier, groups, use_bias)
    total = sum(t[3] for t in terms)
    lines = [f"{type(layer).__name__} ({kind} convolution): input {h}x{w}x{c}, kernel {kernel_size[0]}x{kernel_size[1]}, "
             f"{f} output channels" + (f", depth multiplier {depth_multiplier}" if kind in ("depthwise", "separable")
                                       else "") + (f", groups {groups}" if groups > 1 else "")
             + f", bias {'on' if use_bias else 'off'}"]
    for what, symbols, numbers, value in terms:
        lines.append(f"  {what:<17}{symbols:<20}= {numbers:<18}= {value:,}")
    lines.append(f"  {'total':<17}{'':<20}  {' + '.join(str(t[3]) for t in terms):<18}= {total:,}")
    lines.append(f"output shape ({padding}, strides {tuple(strides)}, dilation {tuple(dilation_rate)}): "
                 f"{out[1]}x{out[2]}x{out[3]}   Keras: {out}")
    assert total == layer.count_params()  # the formula and the layer's own weights agree
    return "\n".join(lines)


def run(args):
    if args.kind is None:
        if args.model == "both":
            print("The article's Fashion-MNIST network, Conv2D everywhere vs SeparableConv2D:\n")
            print(format_comparison(fashion_mnist_table("standard"), fashion_mnist_table("separable")))
        elif args.model == "monkeys":
            print("The article's 10-monkeys network (Conv2D, as the article) vs its separable version "
                  "(SeparableConv2D after the first layer):\n")
            print(format_comparison(monkeys_table("standard"), monkeys_table("separable")))
        else:
            print(format_table(fashion_mnist_table(args.model), f"The article's Fashion-MNIST network ({args.model}):"))
        return 0
    try:
        text = describe_layer(args.kind, args.input, args.filters, args.kernel, args.depth_multiplier, args.groups,
                              args.bias, args.strides, args.dilation, args.padding)
    except (ValueError, TypeError) as e:
        print(f"scratchconv params: error: {e}", file=sys.stderr)
        return 2
    print(text)
    return 0
