"""Layer shapes for ``scratchconv bench``: the spec syntax, FLOP counts, test arrays and the calls.

A layer spec reads ``KIND:HxWxC[->F][:OPTION...]``::

    standard:28x28x32->32        3x3 standard convolution, 32 -> 32 channels on 28x28
    depthwise:14x14x64           3x3 depthwise convolution of 64 channels (depth multiplier 1)
    pointwise:7x7x128->128       1x1 convolution
    separable:7x7x128->128:k3:s1 depthwise 3x3 then pointwise to 128

Options: ``k3`` or ``k3x5`` kernel size (rows x cols), ``s2`` or ``s2x1`` strides, ``d2`` dilation,
``m2`` depth multiplier (depthwise/separable), ``same`` or ``valid`` padding. Defaults: k3, s1, d1,
m1, same (pointwise is always 1x1, stride 1). ``->F`` needs quotes in a shell; ``:fF`` is the same
thing without them (``standard:28x28x32:f32``).

FLOPs count 2 per multiply-add over the whole padded window, the usual convention (padding zeros
are multiplied too), bias additions not counted (under 1% here)::

    standard   forward 2 * N*H_out*W_out * kh*kw*C * F
    depthwise  forward 2 * N*H_out*W_out * kh*kw*C*M
    pointwise  forward 2 * N*H*W * C * F
    separable  forward depthwise(C, M) + 2 * N*H_out*W_out * C*M * F

Every kind is linear in its input and in its weights, and each backward product has exactly the
forward's multiply-adds: dx touches every (output pixel, window tap, channel) term once, so does
dweights. So backward = 2 x forward and forward+backward = 3 x forward.
"""

import importlib
import re
from dataclasses import dataclass

import numpy as np

from ..kernels.arguments import conv_geometry

KINDS = ("standard", "depthwise", "pointwise", "separable")

# (module, forward, backward) of each kind; the naive versions are "<name>_naive" in the same module.
FUNCTIONS = {
    "standard": ("scratchconv.kernels.standard", "conv2d", "conv2d_backward"),
    "depthwise": ("scratchconv.kernels.depthwise", "depthwise_conv2d", "depthwise_conv2d_backward"),
    "pointwise": ("scratchconv.kernels.pointwise", "pointwise_conv2d", "pointwise_conv2d_backward"),
    "separable": ("scratchconv.kernels.separable", "separable_conv2d", "separable_conv2d_backward"),
}

# The article's Fashion-MNIST layers (3x3, stride 1, 'same').
DEFAULT_SPECS = (
    "standard:28x28x32->32",
    "standard:14x14x64->64",
    "standard:7x7x128->128",
    "depthwise:28x28x32",
    "depthwise:14x14x64",
    "depthwise:7x7x128",
    "pointwise:28x28x32->32",
    "pointwise:14x14x64->64",
    "pointwise:7x7x128->128",
    "separable:14x14x64->64",
    "separable:7x7x128->128",
)

# The article's 10 Monkey Species network's standard layers (128x128x3 images, batch 64), ``--set monkeys``.
MONKEYS_SPECS = (
    "standard:128x128x3->32",
    "standard:128x128x32->32",
    "standard:64x64x64->64",
    "standard:32x32x128->128",
)

# ``--set NAME``: (layer specs, batch size).
SETS = {"article": (DEFAULT_SPECS, 32), "monkeys": (MONKEYS_SPECS, 64)}

_SPEC = re.compile(r"^(?P<kind>[a-z]+):(?P<h>\d+)x(?P<w>\d+)x(?P<c>\d+)(?:->(?P<f>\d+))?(?P<opts>(?::[a-z0-9]+)*)$")
_PAIR = re.compile(r"^(\d+)(?:x(\d+))?$")


@dataclass(frozen=True)
class LayerSpec:
    """One layer to time: input H x W x C, F outputs (None for depthwise), window options."""

    kind: str
    h: int
    w: int
    c: int
    filters: int | None
    kh: int = 3
    kw: int = 3
    sh: int = 1
    sw: int = 1
    dh: int = 1
    dw: int = 1
    multiplier: int = 1
    padding: str = "same"

    @property
    def label(self):
        """The canonical spec string; default options are left out."""
        text = f"{self.kind}:{self.h}x{self.w}x{self.c}" + ("" if self.filters is None else f"->{self.filters}")
        if self.kind != "pointwise":
            for letter, (a, b), default in (("k", (self.kh, self.kw), 3), ("s", (self.sh, self.sw), 1),
                                            ("d", (self.dh, self.dw), 1)):
                if (a, b) != (default, default):
                    text += f":{letter}{a}" if a == b else f":{letter}{a}x{b}"
            if self.multiplier != 1:
                text += f":m{self.multiplier}"
            if self.padding != "same":
                text += f":{self.padding}"
        return text

    def geometry(self, batch):
        """The window geometry (``_args.Geometry``) of the spatial convolution at this batch size."""
        return conv_geometry((batch, self.h, self.w, self.c), (self.kh, self.kw), (self.sh, self.sw),
                             self.padding, (self.dh, self.dw))

    def out_channels(self):
        return self.c * self.multiplier if self.kind == "depthwise" else self.filters

    def forward_flops(self, batch):
        """FLOPs of one forward pass (2 per multiply-add; see the module docstring)."""
        g = self.geometry(batch)
        pixels = batch * g.out_h * g.out_w
        if self.kind == "standard":
            return 2 * pixels * self.kh * self.kw * self.c * self.filters
        if self.kind == "pointwise":
            return 2 * pixels * self.c * self.filters
        depthwise = 2 * pixels * self.kh * self.kw * self.c * self.multiplier
        if self.kind == "depthwise":
            return depthwise
        return depthwise + 2 * pixels * self.c * self.multiplier * self.filters

    def flops(self, batch):
        """{'forward': ..., 'forward_backward': ...}; backward = dx + dweights = 2 x forward."""
        forward = self.forward_flops(batch)
        return {"forward": forward, "forward_backward": 3 * forward}


def parse_spec(text):
    """A LayerSpec from ``KIND:HxWxC[->F][:OPTION...]``; ValueError saying what is wrong."""
    text = text.strip().lower().replace(" ", "")
    match = _SPEC.match(text)
    if not match:
        raise ValueError(
            f"layer spec {text!r} does not read KIND:HxWxC[->F][:OPTION...], "
            f"e.g. 'standard:28x28x32->32', 'depthwise:14x14x64', 'separable:7x7x128->128:k3:s1'"
        )
    kind = match["kind"]
    if kind not in KINDS:
        raise ValueError(f"layer spec {text!r}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    fields = {"kind": kind, "h": int(match["h"]), "w": int(match["w"]), "c": int(match["c"])}
    filters = None if match["f"] is None else int(match["f"])
    for option in filter(None, match["opts"].split(":")):
        if option in ("same", "valid"):
            fields["padding"] = option
            continue
        letter, value = option[0], _PAIR.match(option[1:])
        if letter not in "ksdmf" or not value:
            raise ValueError(
                f"layer spec {text!r}: unknown option {option!r}; options are kN or kNxM (kernel), "
                f"sN or sNxM (strides), dN or dNxM (dilation), mN (depth multiplier), fN (filters), same, valid"
            )
        a = int(value[1])
        b = int(value[2]) if value[2] else a
        if letter in "mf" and value[2]:
            raise ValueError(f"layer spec {text!r}: option {option!r} takes one number")
        if letter == "f":
            filters = a
        elif letter == "m":
            fields["multiplier"] = a
        else:
            fields[letter + "h"], fields[letter + "w"] = a, b
    if min(v for k, v in fields.items() if k not in ("kind", "padding")) < 1 or (filters is not None and filters < 1):
        raise ValueError(f"layer spec {text!r}: every size must be >= 1")
    if kind == "depthwise" and filters is not None:
        raise ValueError(f"layer spec {text!r}: depthwise has C*M outputs; give the multiplier as :mM, not ->F")
    if kind != "depthwise" and filters is None:
        raise ValueError(f"layer spec {text!r}: {kind} needs the number of outputs, e.g. '{text}->32'")
    if kind in ("standard", "pointwise") and fields.get("multiplier", 1) != 1:
        raise ValueError(f"layer spec {text!r}: the depth multiplier :m applies to depthwise and separable only")
    if kind == "pointwise":
        extra = [k for k in ("kh", "kw", "sh", "sw", "dh", "dw") if fields.get(k, 1) != 1]
        if extra or fields.get("padding", "same") != "same":
            raise ValueError(f"layer spec {text!r}: pointwise is always 1x1, stride 1; drop the k/s/d/padding options")
        fields.update(kh=1, kw=1)
    spec = LayerSpec(filters=filters, **fields)
    spec.geometry(1)  # ValueError when the output would be empty
    return spec


def parse_specs(texts):
    """LayerSpecs from a list of spec strings, each of which may hold several separated by commas."""
    return [parse_spec(part) for text in texts for part in text.split(",") if part.strip()]


def make_arrays(spec, batch, dtype, seed=0):
    """Random inputs, weights and an upstream gradient for one layer, as a dict of C-contiguous arrays."""
    rng = np.random.default_rng(seed)
    g = spec.geometry(batch)
    cm = spec.c * spec.multiplier

    def normal(shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    arrays = {"x": normal((batch, spec.h, spec.w, spec.c))}  # (N, H, W, C)
    if spec.kind in ("standard", "pointwise"):
        fan_in = spec.kh * spec.kw * spec.c
        arrays["kernel"] = normal((spec.kh, spec.kw, spec.c, spec.filters), fan_in**-0.5)  # (kh, kw, C, F)
    if spec.kind in ("depthwise", "separable"):
        arrays["depthwise_kernel"] = normal((spec.kh, spec.kw, spec.c, spec.multiplier), 1 / 3)  # (kh, kw, C, M)
    if spec.kind == "separable":
        arrays["pointwise_kernel"] = normal((1, 1, cm, spec.filters), cm**-0.5)  # (1, 1, C*M, F)
    arrays["bias"] = normal((spec.out_channels(),), 0.1)  # (F,) or (C*M,)
    arrays["dy"] = normal((batch, g.out_h, g.out_w, spec.out_channels()))  # (N, H_out, W_out, F or C*M)
    return arrays


def weight_names(kind):
    """The weight arguments of a kind's forward, in order (bias last)."""
    return {
        "standard": ("kernel", "bias"),
        "depthwise": ("depthwise_kernel", "bias"),
        "pointwise": ("kernel", "bias"),
        "separable": ("depthwise_kernel", "pointwise_kernel", "bias"),
    }[kind]


def load_functions(kind, naive=False):
    """(forward, backward) of a kind: the fast versions, or with naive=True the loop-by-loop ones."""
    module_name, forward, backward = FUNCTIONS[kind]
    module = importlib.import_module(module_name)
    suffix = "_naive" if naive else ""
    return getattr(module, forward + suffix), getattr(module, backward + suffix)


def standard_algorithms(spec):
    """The algorithms ``conv2d(algorithm=...)`` can be forced to for a standard layer: the row method
    and im2col always (the bench's layers have groups == 1), Winograd for 3x3 at stride 1, dilation 1."""
    if spec.kind != "standard":
        return ()
    winograd = (spec.kh, spec.kw, spec.sh, spec.sw, spec.dh, spec.dw) == (3, 3, 1, 1, 1, 1)
    return ("rows", "im2col", "winograd") if winograd else ("rows", "im2col")


def auto_algorithm(spec, arrays):
    """The algorithm ``conv2d(algorithm="auto")`` runs for this standard layer and these (finite) arrays."""
    return auto_algorithms(spec, arrays)["forward"]


def auto_algorithms(spec, arrays):
    """What ``algorithm="auto"`` runs for this standard layer in each timed pass: {"forward": name,
    "forward_backward": name, or "forward's+backward's" where ``conv2d_backward`` (nothing kept
    between the public calls) picks another algorithm than ``conv2d``}."""
    from ..kernels import standard

    g = spec.geometry(arrays["x"].shape[0])
    forward = standard._choose(arrays["kernel"], 1, g, "auto", arrays["x"])
    backward = standard._choose(arrays["kernel"], 1, g, "auto", arrays["x"], arrays["dy"], purpose="backward")
    return {"forward": forward, "forward_backward": forward if backward == forward else f"{forward}+{backward}"}


def make_calls(spec, arrays, naive=False, algorithm="auto"):
    """(forward(), forward_backward(), backward()) closures calling scratchconv on the given arrays;
    ``algorithm`` is passed to the standard convolution's fast forward and backward."""
    forward, backward = load_functions(spec.kind, naive)
    weights = [arrays[name] for name in weight_names(spec.kind)]
    x, dy = arrays["x"], arrays["dy"]
    options = {} if spec.kind == "pointwise" else {
        "strides": (spec.sh, spec.sw), "padding": spec.padding, "dilation_rate": (spec.dh, spec.dw)}
    if spec.kind == "standard" and not naive:
        options["algorithm"] = algorithm

    def run_forward():
        return forward(x, *weights, **options)

    def run_forward_backward():
        if spec.kind == "separable":  # the backward reuses the forward's intermediate, as TF's tape does
            y, z = forward(x, *weights, return_depthwise_output=True, **options)
            return (y, *backward(dy, x, *weights, depthwise_output=z, **options))
        y = forward(x, *weights, **options)
        return (y, *backward(dy, x, *weights, **options))

    def run_backward():
        return backward(dy, x, *weights, **options)

    return run_forward, run_forward_backward, run_backward
