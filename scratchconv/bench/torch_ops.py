"""PyTorch's side of ``scratchconv bench``: the same layers with ``torch.nn.functional`` on the CPU.

PyTorch is optional (``pip install 'scratchconv[bench]'``): nothing here imports it until
``load_torch`` is called, and that returns None (with the reason) when it is not installed.

What PyTorch runs for each kind, on the arrays scratchconv gets (x NHWC is turned into PyTorch's
logical NCHW, the kernels from Keras's layouts into PyTorch's (F, C/groups, kh, kw)):

    standard   F.conv2d(x, kernel, bias, stride, padding, dilation)
    depthwise  F.conv2d(x, kernel (C*M, 1, kh, kw), bias, ..., groups=C)    output channel c*M + m, as Keras
    pointwise  F.conv2d(x, kernel (F, C, 1, 1), bias)
    separable  the depthwise conv2d (no bias), then the pointwise one with the bias

'same' padding that is not the same on both sides (an even kernel, or strides) is applied with
``F.pad`` first, the odd pixel at the bottom/right as Keras and TensorFlow put it; F.conv2d's own
padding is symmetric. The forward runs under ``torch.no_grad()``; forward+backward is the forward
on tensors that require gradients and ``y.backward(dy)`` (autograd), the gradients set to None
before each call so that none is accumulated into an old one. Both are timed with every tensor in
one memory format, NCHW (``torch.contiguous_format``) or NHWC (``torch.channels_last``); the bench
times both on each layer and keeps the faster (``pick_format``).

Threads: ``torch.set_num_threads`` = the Numba thread count, inter-op 1, as TensorFlow gets.
PyTorch's OpenMP runtime is the same libgomp as Numba's in this process, so it also runs with
scratchconv's ``OMP_WAIT_POLICY=PASSIVE``.
"""

import warnings

import numpy as np

from . import timing

INSTALL_HINT = "install PyTorch (pip install 'scratchconv[bench]', or torch from pytorch.org) to compare with it"
FORMATS = ("nchw", "channels_last")


def load_torch(threads):
    """Import PyTorch with ``threads`` intra-op threads. Returns (torch, None) or (None, reason)."""
    try:
        import torch
    except ImportError as error:
        return None, f"PyTorch is not installed ({error}); {INSTALL_HINT}"
    # A CUDA build of PyTorch on a machine without a GPU warns at the first backward; it runs on the CPU.
    warnings.filterwarnings("ignore", message="CUDA initialization", category=UserWarning)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set, or parallel work already ran in this process: keep what it has
    return torch, None


def thread_settings(torch):
    """(intra_op, inter_op) as PyTorch reports them."""
    return torch.get_num_threads(), torch.get_num_interop_threads()


def _memory_format(torch, name):
    return torch.channels_last if name == "channels_last" else torch.contiguous_format


def torch_weights(torch, spec, arrays):
    """{name: tensor} of the layer's weights in PyTorch's layouts (bias as is)."""
    weights = {"bias": torch.from_numpy(arrays["bias"].copy())}
    if spec.kind in ("standard", "pointwise"):
        weights["kernel"] = torch.from_numpy(arrays["kernel"].transpose(3, 2, 0, 1).copy())  # (F, C, kh, kw)
    if spec.kind in ("depthwise", "separable"):
        k = arrays["depthwise_kernel"]  # (kh, kw, C, M) -> (C*M, 1, kh, kw): channel c*M + m
        weights["depthwise_kernel"] = torch.from_numpy(
            k.transpose(2, 3, 0, 1).reshape(spec.c * spec.multiplier, 1, spec.kh, spec.kw).copy())
    if spec.kind == "separable":
        weights["pointwise_kernel"] = torch.from_numpy(
            arrays["pointwise_kernel"].transpose(3, 2, 0, 1).copy())  # (F, C*M, 1, 1)
    return weights


def to_keras_layout(spec, name, tensor):
    """A PyTorch result as scratchconv returns it: NCHW arrays to NHWC, kernels to Keras's layouts."""
    a = tensor.detach().numpy()
    if name in ("y", "x"):
        return a.transpose(0, 2, 3, 1)  # (N, H, W, C)
    if name == "depthwise_kernel":  # (C*M, 1, kh, kw) -> (kh, kw, C, M)
        return a.reshape(spec.c, spec.multiplier, spec.kh, spec.kw).transpose(2, 3, 0, 1)
    if name in ("kernel", "pointwise_kernel"):
        return a.transpose(2, 3, 1, 0)  # (F, C, kh, kw) -> (kh, kw, C, F)
    return a  # bias (F,)


def make_torch_calls(torch, spec, arrays, memory_format="channels_last"):
    """(forward(), forward_backward(), keras_layout(results)) for one layer in one memory format.

    forward_backward returns (y, dx, d<weight>..., dbias) as tensors in PyTorch's layouts;
    keras_layout turns such a tuple into arrays shaped as scratchconv's results.
    """
    from .shapes import weight_names

    import torch.nn.functional as F

    fmt = _memory_format(torch, memory_format)
    g = spec.geometry(arrays["x"].shape[0])
    names = weight_names(spec.kind)
    x = torch.from_numpy(arrays["x"]).permute(0, 3, 1, 2).contiguous(memory_format=fmt)  # (N, C, H, W)
    dy = torch.from_numpy(arrays["dy"]).permute(0, 3, 1, 2).contiguous(memory_format=fmt)  # (N, F, H_out, W_out)
    weights = [w.contiguous(memory_format=fmt) if w.dim() == 4 else w
               for w in (torch_weights(torch, spec, arrays)[name] for name in names)]
    symmetric = (g.pad_top, g.pad_left) == (g.pad_bottom, g.pad_right)
    padding = (g.pad_top, g.pad_left) if symmetric else 0
    window = {"stride": (spec.sh, spec.sw), "dilation": (spec.dh, spec.dw), "padding": padding}

    def layer(x, *weights):
        *kernels, bias = weights
        if not symmetric:  # (left, right, top, bottom): the odd pixel at the bottom/right
            x = F.pad(x, (g.pad_left, g.pad_right, g.pad_top, g.pad_bottom))
        if spec.kind in ("standard", "pointwise"):
            return F.conv2d(x, kernels[0], bias, **({} if spec.kind == "pointwise" else window))
        if spec.kind == "depthwise":
            return F.conv2d(x, kernels[0], bias, groups=spec.c, **window)
        z = F.conv2d(x, kernels[0], None, groups=spec.c, **window)
        return F.conv2d(z, kernels[1], bias)

    x_grad = x.detach().clone(memory_format=fmt).requires_grad_(True)
    w_grad = [w.detach().clone(memory_format=fmt if w.dim() == 4 else torch.preserve_format).requires_grad_(True)
              for w in weights]

    def run_forward():
        with torch.no_grad():
            return layer(x, *weights)

    def run_forward_backward():
        for t in (x_grad, *w_grad):
            t.grad = None
        y = layer(x_grad, *w_grad)
        y.backward(dy)
        return (y.detach(), x_grad.grad, *(w.grad for w in w_grad))

    def keras_layout(results):
        return [to_keras_layout(spec, name, t) for name, t in zip(("y", "x", *names), results)]

    return run_forward, run_forward_backward, keras_layout


def pick_format(torch, spec, arrays, block_s, max_calls, blocks=3):
    """Time both memory formats' forward and forward+backward in ``blocks`` interleaved blocks each.

    Returns ({phase: the faster format}, {phase: {format: median ms}}, {format: calls}): the bench
    then times, for each phase, only the faster format in its rounds.
    """
    calls = {fmt: make_torch_calls(torch, spec, arrays, fmt) for fmt in FORMATS}
    times = {phase: {fmt: [] for fmt in FORMATS} for phase in ("forward", "forward_backward")}
    for phase, index in (("forward", 0), ("forward_backward", 1)):
        counts = {fmt: timing.calls_per_block(calls[fmt][index], block_s, max_calls) for fmt in FORMATS}
        for b in range(blocks):
            for fmt in FORMATS if b % 2 == 0 else FORMATS[::-1]:
                times[phase][fmt] += timing.time_block(calls[fmt][index], counts[fmt])
    medians = {phase: {fmt: 1e3 * float(np.median(v)) for fmt, v in by_format.items()}
               for phase, by_format in times.items()}
    chosen = {phase: min(FORMATS, key=by_format.__getitem__) for phase, by_format in medians.items()}
    return chosen, medians, calls
