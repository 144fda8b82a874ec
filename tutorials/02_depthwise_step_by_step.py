# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tutorial 2 — Depthwise convolution, step by step
#
# The depthwise convolution is the first half of a separable convolution: **one kernel per
# channel**, channels never mix. This tutorial reads `scratchconv`'s loop-by-loop version
# line by line, follows one output value through it, draws the kernel sliding over its
# channel, and then goes through every knob: depth multiplier, strides, dilation, and
# 'same' padding — where the odd padding pixel goes, and why a model ported between Keras
# and PyTorch can disagree there.

# %%
import inspect

import numpy as np
from matplotlib.patches import Rectangle

import _common  # tutorials/_common.py: paths, figure saving, optional TensorFlow
from _common import plt, save, keras_or_none, max_abs_diff

import scratchconv
from scratchconv import naive
from scratchconv.kernels.arguments import conv_geometry

# %% [markdown]
# ## The formula
#
# Input $x$ of shape $(N, H, W, C)$, depthwise kernel $k$ of shape $(k_h, k_w, C, M)$ (Keras's
# layout; $M$ is the *depth multiplier*, the number of maps made from each channel), strides
# $(s_h, s_w)$, dilation $(d_h, d_w)$, and $x_p$ the zero-padded input. Output channel
# $c M + m$ is channel $c$ filtered with its own kernel number $m$:
#
# $$ y[n, o_y, o_x, cM + m] = b[cM+m] + \sum_{i=0}^{k_h-1} \sum_{j=0}^{k_w-1}
#    x_p[n,\; o_y s_h + i d_h,\; o_x s_w + j d_w,\; c]\; k[i, j, c, m] $$
#
# Compare with the standard convolution, which also sums over $c$: here there is **no sum
# over channels**.
#
# ## The loop version, line by line
#
# This is the real code (`scratchconv.naive.depthwise_conv2d`, defined in
# `scratchconv/kernels/depthwise.py` as `depthwise_conv2d_naive`), printed from the package itself:

# %%
source = inspect.getsource(naive.depthwise_conv2d)
fn = naive.depthwise_conv2d
print(f"--- source of scratchconv.naive.depthwise_conv2d (module {fn.__module__}, function {fn.__name__}) ---")
print(source)
print("--- end of source ---")
# The walk-through below quotes these lines; if the code changes, this tutorial must change too.
for quoted in ["check_depthwise_args(", "kh, kw, channels, multiplier = k.shape", "xp = pad_input(x, g)",
               "rows = slice(oy * g.sh, oy * g.sh + (kh - 1) * g.dh + 1, g.dh)", "window = xp[n, rows, cols, c]",
               "out = c * multiplier + m", "np.sum(window * k[:, :, c, m])"]:
    assert quoted in source, f"the walk-through quotes {quoted!r}, which is no longer in the source"

# %% [markdown]
# Reading it from the top:
#
# 1. `check_depthwise_args` checks every argument (ranks, dtypes, that the kernel has one
#    slice per input channel, strides/dilation ≥ 1, padding) and computes the **geometry**:
#    the output size and the padding on each side. Nothing is computed before the checks.
# 2. `kh, kw, channels, multiplier = k.shape` — the kernel's layout is $(k_h, k_w, C, M)$.
# 3. `xp = pad_input(x, g)` — zero padding ('same') or none ('valid'). The loop version
#    multiplies these zeros like any other pixel; the fast kernels skip taps that land on the
#    padding. Same numbers — unless the kernel holds an Inf or NaN, where 0 × Inf = NaN
#    appears at the border in the loop version only (checked below).
# 4. `y = np.zeros((N, H_out, W_out, C*M))` — one output map per (channel, multiplier).
# 5. Three loops over the output pixel `(n, oy, ox)`. For each, `rows` and `cols` are the
#    slices of the padded input under the window: start `oy*sh`, $k_h$ rows, `dh` apart.
#    Strides move the window's start; dilation spreads its taps.
# 6. `for c in range(channels)`: `window = xp[n, rows, cols, c]` — a $k_h \times k_w$ patch of
#    **one channel only**.
# 7. `for m in range(multiplier)`: output channel `c*M + m` is `np.sum(window * k[:, :, c, m])`
#    — the elementwise product of the patch and the kernel, summed — plus its bias.
#
# That is all: the fast Numba version (`scratchconv.depthwise_conv2d`) computes the same
# numbers with the loops reordered for speed (its docstring explains how).
#
# ## One output value, followed through the loops
#
# A 6×6 image with 2 channels, one 3×3 kernel per channel, padding 'valid'. We take output
# pixel `(oy, ox) = (1, 2)` of channel `c = 1`, exactly as the loop body does:

# %%
rng = np.random.default_rng(2)
x = rng.integers(0, 5, size=(1, 6, 6, 2)).astype(np.float32)  # (1, 6, 6, 2)
k = rng.integers(-1, 2, size=(3, 3, 2, 1)).astype(np.float32)  # (3, 3, 2, 1)
k[:, :, 1, 0] = [[1, 0, -1], [1, 0, -1], [1, 0, -1]]  # channel 1: a vertical-edge detector
y = naive.depthwise_conv2d(x, k)  # (1, 4, 4, 2)

oy, ox, c, m = 1, 2, 1, 0
rows = slice(oy * 1, oy * 1 + (3 - 1) * 1 + 1, 1)  # strides 1, dilation 1: rows 1, 2, 3
cols = slice(ox * 1, ox * 1 + (3 - 1) * 1 + 1, 1)  # columns 2, 3, 4
window = x[0, rows, cols, c]  # (3, 3)
print("the window under output (1, 2) of channel 1: x[0, 1:4, 2:5, 1] =\n", window)
print("channel 1's kernel k[:, :, 1, 0] (a vertical-edge detector) =\n", k[:, :, c, m])
print("their elementwise product, window * kernel =\n", window * k[:, :, c, m])
value = np.sum(window * k[:, :, c, m])
print(f"sum of the product = {value:.0f};  loop version y[0, 1, 2, 1] = {y[0, oy, ox, c * 1 + m]:.0f};  "
      f"fast version y[0, 1, 2, 1] = {scratchconv.depthwise_conv2d(x, k)[0, oy, ox, 1]:.0f}")
assert value == y[0, oy, ox, c] == scratchconv.depthwise_conv2d(x, k)[0, oy, ox, c]
assert y.shape == (1, 4, 4, 2)  # 6 - 3 + 1 = 4 per axis; 2 channels in, 2 maps out
assert value == np.sum(x[0, 1:4, 2, 1]) - np.sum(x[0, 1:4, 4, 1])  # left column minus right column

# %% [markdown]
# The one place where they differ: an Inf in the kernel, on a tap that only meets padding.
# The loop version computes 0 × Inf = NaN at the border; the fast version skipped that tap.
# TensorFlow's own kernels differ here too: on this machine its float64 kernel gives the NaN
# and its float32 kernel does not (printed below, when TensorFlow is installed).

# %%
ones = np.ones((1, 4, 4, 1))  # (1, 4, 4, 1) float64
k_inf = np.ones((3, 3, 1, 1))  # (3, 3, 1, 1)
k_inf[0, 0] = np.inf  # the top-left tap: on the padding for every output in the first row/column
with np.errstate(invalid="ignore"):
    loop_border = naive.depthwise_conv2d(ones, k_inf, padding="same")[0, 0, :, 0]  # first output row
fast_border = scratchconv.depthwise_conv2d(ones, k_inf, padding="same")[0, 0, :, 0]
print("An Inf on purpose in the kernel's top-left tap, which meets only zero padding in the first output row:")
print(f"  first output row, loop version: {loop_border}  <- NaN on purpose: 0 x Inf at the padding")
print(f"  first output row, fast version: {fast_border}  <- finite: the tap on the padding is skipped")
assert np.all(np.isnan(loop_border)) and np.all(np.isfinite(fast_border))
tk = keras_or_none()
if tk is not None:
    tf, keras = tk
    for dtype in ("float64", "float32"):
        layer = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, dtype=dtype)
        layer.build((None, 4, 4, 1))
        layer.set_weights([k_inf.astype(dtype)])
        keras_border = np.asarray(layer(ones.astype(dtype)))[0, 0, :, 0]
        agrees = "the loop version" if bool(np.all(np.isnan(keras_border))) else "the fast version"
        print(f"  first output row, Keras {dtype}: {keras_border}  (like {agrees}"
              + ("; NaN on purpose, as above)" if agrees == "the loop version" else ")"))

# %% [markdown]
# Everywhere else the loop version and the fast version agree, on random float64 data, for
# a few configurations (the test suite does this for thousands):

# %%
for strides, padding, dilation, mult in [(1, "valid", 1, 1), (2, "same", 1, 2), (1, "same", 2, 3), ((1, 2), "same", 1, 1)]:
    xr = rng.standard_normal((2, 9, 8, 3))  # (2, 9, 8, 3)
    kr = rng.standard_normal((3, 3, 3, mult))  # (3, 3, 3, M)
    br = rng.standard_normal(3 * mult)  # (3*M,)
    args = dict(strides=strides, padding=padding, dilation_rate=dilation)
    a = naive.depthwise_conv2d(xr, kr, br, **args)  # (2, H_out, W_out, 3*M)
    b = scratchconv.depthwise_conv2d(xr, kr, br, **args)
    print(f"strides={strides!s:6} padding={padding!r:7} dilation={dilation} M={mult}: output (N, H_out, W_out, C*M) "
          f"{a.shape}, max |loop - fast| = {max_abs_diff(a, b):.1e} (float64)")
    assert max_abs_diff(a, b) < 1e-12

# %% [markdown]
# ## A picture: the kernel sliding over its channel
#
# Channel 1 of the image above, 'valid' padding. Top row: the window at the first four
# positions (left to right, then down); bottom row: the output map filling in, the newest
# value outlined. Every output value is the sum of the 9 products under the window.

# %%
def show_grid(ax, a, title, lim, cmap="RdBu_r"):
    """A small matrix with its values in the cells and a grid between them (NaN cells stay empty)."""
    ax.imshow(a, cmap=cmap, vmin=0 if cmap == "Greys" else -lim, vmax=lim)
    for (r, col), v in np.ndenumerate(a):
        if np.isfinite(v):
            dark = v > 0.6 * lim if cmap == "Greys" else abs(v) > 0.6 * lim
            ax.text(col, r, f"{v:.0f}", ha="center", va="center", fontsize=9, color="white" if dark else "black")
    ax.set_xticks(np.arange(-0.5, a.shape[1], 1), minor=True)
    ax.set_yticks(np.arange(-0.5, a.shape[0], 1), minor=True)
    ax.grid(which="minor", color="0.7", linewidth=0.6)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_title(title, fontsize=9)


channel = x[0, :, :, 1]  # (6, 6)
kernel_c = k[:, :, 1, 0]  # (3, 3)
y_c = y[0, :, :, 1]  # (4, 4)
positions = [(0, 0), (0, 1), (0, 2), (1, 0)]
lim_y = float(np.abs(y_c).max())
fig, axes = plt.subplots(2, 5, figsize=(12, 6.2))
show_grid(axes[0, 0], kernel_c, "kernel k[:, :, 1, 0]", lim=2)
show_grid(axes[1, 0], y_c, "finished output y[0, :, :, 1]\n(4x4: 6 - 3 + 1 = 4)", lim=lim_y)
for step, (py, px) in enumerate(positions, start=1):
    ax = axes[0, step]
    show_grid(ax, channel, f"step {step}: window at ({py}, {px})", lim=6, cmap="Greys")
    ax.add_patch(Rectangle((px - 0.5, py - 0.5), 3, 3, fill=False, edgecolor="tab:red", linewidth=2.5))
    filled = np.full(y_c.shape, np.nan)
    for qy, qx in positions[:step]:
        filled[qy, qx] = y_c[qy, qx]
    ax = axes[1, step]
    show_grid(ax, filled, f"y[{py}, {px}] = sum(window * kernel)\n= {y_c[py, px]:.0f}", lim=lim_y)
    ax.add_patch(Rectangle((px - 0.5, py - 0.5), 1, 1, fill=False, edgecolor="tab:red", linewidth=2.5))
    assert y_c[py, px] == np.sum(channel[py : py + 3, px : px + 3] * kernel_c)  # what the picture says
fig.suptitle("Depthwise convolution: channel 1's own 3x3 kernel slides over channel 1 (valid padding, stride 1)", fontsize=11)
fig.tight_layout()
save(fig, "02_sliding_window.png")

# %% [markdown]
# ## Depth multiplier: M maps per channel
#
# With `depth_multiplier=M` each channel gets $M$ kernels, and output channel $cM + m$ is
# channel $c$ filtered by kernel $m$. The order matters when weights move between
# frameworks: Keras groups the $M$ maps of one channel together. The parameter count is
# $k_h k_w C M$ (+ $CM$ biases).
#
# A depthwise convolution is also a **grouped** convolution with one group per channel:
# `conv2d(x, k.reshape(kh, kw, 1, C*M), groups=C)` — the reshape keeps exactly the order
# $cM + m$. Both identities are checked here, and against Keras's `DepthwiseConv2D`:

# %%
M = 2
x3 = rng.standard_normal((2, 7, 7, 3)).astype(np.float32)  # (2, 7, 7, 3)
k3 = rng.standard_normal((3, 3, 3, M)).astype(np.float32)  # (3, 3, 3, M)
b3 = rng.standard_normal(3 * M).astype(np.float32)  # (3*M,)
y3 = scratchconv.depthwise_conv2d(x3, k3, b3, padding="same")  # (2, 7, 7, 6)
print(f"input x (N, H, W, C) = {x3.shape} -> depthwise, depth multiplier M = 2 -> output (N, H, W, C*M) = {y3.shape}")
assert y3.shape == (2, 7, 7, 3 * M)
for c in range(3):
    for m in range(M):
        alone = scratchconv.conv2d(x3[..., c : c + 1], k3[:, :, c : c + 1, m : m + 1], b3[c * M + m : c * M + m + 1], padding="same")  # (2, 7, 7, 1)
        assert max_abs_diff(y3[..., c * M + m], alone[..., 0]) < 1e-5, (c, m)
grouped = scratchconv.conv2d(x3, k3.reshape(3, 3, 1, 3 * M), b3, padding="same", groups=3)  # (2, 7, 7, 6)
print(f"max |depthwise - grouped conv2d(groups=C)| = {max_abs_diff(y3, grouped):.1e} (float32)")
assert max_abs_diff(y3, grouped) < 1e-5

tk = keras_or_none()
if tk is not None:
    tf, keras = tk
    layer = keras.layers.DepthwiseConv2D(3, depth_multiplier=M, padding="same")
    layer.build((None, 7, 7, 3))
    layer.set_weights([k3, b3])
    print(f"max |Keras DepthwiseConv2D - scratchconv| = {max_abs_diff(layer(x3), y3):.1e} (float32)")
    assert max_abs_diff(layer(x3), y3) < 1e-5
    assert layer.count_params() == 3 * 3 * 3 * M + 3 * M

# %% [markdown]
# ## Strides
#
# A stride $s$ moves the window $s$ pixels at a time. With 'valid' padding the output has
# $\left\lceil (H - k + 1)/s \right\rceil$ rows, and it is simply every $s$-th row and column of
# the stride-1 output: $y_s[o_y, o_x] = y_1[s\,o_y, s\,o_x]$. Rows and columns may have
# different strides.
#
# ## Dilation
#
# A dilation rate $d$ spreads the kernel's taps $d$ pixels apart: the window covers
# $(k-1)d + 1$ pixels per axis while the kernel keeps $k$ weights. A dilated convolution equals
# an ordinary one with a bigger kernel that has $d-1$ zeros inserted between the weights.

# %%
x4 = rng.standard_normal((1, 11, 11, 2))  # (1, 11, 11, 2) float64
k4 = rng.standard_normal((3, 3, 2, 1))  # (3, 3, 2, 1)
full = scratchconv.depthwise_conv2d(x4, k4)  # (1, 9, 9, 2)
for s in (2, 3, (2, 3)):
    strided = scratchconv.depthwise_conv2d(x4, k4, strides=s)
    sh, sw = (s, s) if isinstance(s, int) else s
    expected_shape = (-(-(11 - 3 + 1) // sh), -(-(11 - 3 + 1) // sw))
    print(f"11x11 input, 3x3 kernel, 'valid', strides={s!s:6}: output (H_out, W_out) = {strided.shape[1:3]}; "
          f"ceil((11 - 3 + 1)/s) = {expected_shape}")
    assert strided.shape[1:3] == expected_shape
    assert max_abs_diff(strided, full[:, ::sh, ::sw, :]) < 1e-12  # equal up to the order of the sums

for d in (2, 3):
    dilated = scratchconv.depthwise_conv2d(x4, k4, dilation_rate=d)  # (1, 11 - 2d, 11 - 2d, 2)
    big = np.zeros((2 * d + 1, 2 * d + 1, 2, 1))  # (5, 5, 2, 1) for d = 2
    big[::d, ::d] = k4  # the 3x3 weights, d - 1 zeros between them
    print(f"11x11 input, 3x3 kernel, 'valid', dilation_rate={d}: window spans {(3 - 1) * d + 1}x{(3 - 1) * d + 1} "
          f"pixels, output (H_out, W_out) = {dilated.shape[1:3]}")
    assert max_abs_diff(dilated, scratchconv.depthwise_conv2d(x4, big)) < 1e-12

if tk is not None:
    for kwargs in (dict(strides=2), dict(dilation_rate=2), dict(strides=3, padding="same")):
        layer = keras.layers.DepthwiseConv2D(3, use_bias=False, dtype="float64", **kwargs)
        layer.build((None, 11, 11, 2))
        layer.set_weights([k4])
        d_keras = max_abs_diff(layer(x4), scratchconv.depthwise_conv2d(x4, k4, **kwargs))
        print(f"Keras DepthwiseConv2D({kwargs}): max |Keras - scratchconv| = {d_keras:.1e} (float64)")
        assert d_keras < 1e-12

# %% [markdown]
# The picture: which input pixels one output value reads (dots), for two neighbouring
# outputs (red and blue), on a 9×9 input.

# %%
def draw_taps(ax, size, taps_by_output, title):
    ax.imshow(np.zeros((size, size)), cmap="Greys", vmin=0, vmax=1)
    ax.set_xticks(np.arange(-0.5, size, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, size, 1), minor=True)
    ax.grid(which="minor", color="0.75", linewidth=0.8)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    for (taps, color, offset) in taps_by_output:
        ys, xs = zip(*taps)
        ax.scatter(np.array(xs) + offset, np.array(ys) + offset, s=60, color=color)
    ax.set_title(title, fontsize=9)


def taps(oy, ox, s, d, k=3):
    return [(oy * s + i * d, ox * s + j * d) for i in range(k) for j in range(k)]


fig, axes = plt.subplots(1, 3, figsize=(11, 3.9))
draw_taps(axes[0], 9, [(taps(0, 0, 1, 1), "tab:red", -0.12), (taps(0, 1, 1, 1), "tab:blue", 0.12)], "stride 1, dilation 1:\nneighbouring windows overlap, 1 pixel apart")
draw_taps(axes[1], 9, [(taps(0, 0, 2, 1), "tab:red", -0.12), (taps(0, 1, 2, 1), "tab:blue", 0.12)], "stride 2: the window jumps 2 pixels;\noutput = every 2nd value of stride 1")
draw_taps(axes[2], 9, [(taps(0, 0, 1, 2), "tab:red", -0.12), (taps(0, 1, 1, 2), "tab:blue", 0.12)], "dilation 2: 9 taps spread over 5x5;\nstill 9 weights")
fig.suptitle("Input pixels read by output (0, 0) in red and output (0, 1) in blue (3x3 kernel)", fontsize=11)
fig.tight_layout(rect=(0, 0, 1, 0.95))
save(fig, "02_strides_dilation.png")

# %% [markdown]
# ## 'same' padding: where the odd pixel goes
#
# With `padding='same'` TensorFlow/Keras choose the output size first, $H_\text{out} =
# \lceil H / s \rceil$, then add just enough zeros for the last window to fit:
#
# $$ P = \max\big((H_\text{out} - 1)\, s + (k - 1)\, d + 1 - H,\; 0\big), \qquad
#    P_\text{top} = \lfloor P/2 \rfloor, \qquad P_\text{bottom} = P - P_\text{top} $$
#
# When $P$ is odd, **the extra pixel goes to the bottom (and right)**. That happens for even
# kernels, and for strides > 1 whenever $H$ is a multiple of $s$ — for example the very
# common 3×3 kernel, stride 2, on an even-sized image: $P = 1$, all of it at the bottom.
# The table comes from `scratchconv.kernels.arguments.conv_geometry`, the function every kernel uses:

# %%
print("'same' padding: input size H, kernel k, stride s, dilation d -> output size H_out, zeros added P "
      "= top + bottom (pixels)")
print(" H  k  s  d | H_out  P  top bottom")
for h, kk, s, d in [(6, 3, 1, 1), (6, 2, 1, 1), (6, 4, 1, 1), (6, 3, 2, 1), (7, 3, 2, 1), (6, 1, 2, 1), (6, 3, 1, 2), (8, 5, 3, 1)]:
    g = conv_geometry((1, h, h, 1), (kk, kk), (s, s), "same", (d, d))
    total = max((g.out_h - 1) * s + (kk - 1) * d + 1 - h, 0)
    print(f"{h:2d} {kk:2d} {s:2d} {d:2d} | {g.out_h:5d} {total:2d} {g.pad_top:4d} {g.pad_bottom:6d}")
    assert g.out_h == -(-h // s) and g.pad_top == total // 2 and g.pad_bottom == total - total // 2

# %% [markdown]
# We can *see* the padding in the numbers: convolve an image of ones with a kernel of ones,
# and every output value counts how many real (non-padding) pixels its window covers. With a
# 4×4 kernel on a 6×6 image, $P = 3$: 1 row of zeros at the top, 2 at the bottom — the
# counts fall off faster at the bottom and right:

# %%
ones = np.ones((1, 6, 6, 1))  # (1, 6, 6, 1)
counts = scratchconv.depthwise_conv2d(ones, np.ones((4, 4, 1, 1)), padding="same")[0, :, :, 0]  # (6, 6)
print("6x6 image of ones, 4x4 kernel of ones, 'same': real (non-padding) pixels under each window =")
print(counts.astype(int))
assert counts[0, 0] == 3 * 3 and counts[-1, -1] == 2 * 2  # top/left: 1 padding row; bottom/right: 2
assert np.array_equal(counts, counts.T) and counts[0, 2] == 3 * 4 and counts[-1, 2] == 2 * 4

# %% [markdown]
# ## Why Keras and PyTorch can differ
#
# PyTorch's `nn.Conv2d(..., padding=p)` pads **symmetrically**: $p$ zeros on every side, then
# slides the window (PyTorch's `padding='same'` exists only for stride 1, where it agrees
# with Keras). Models written for PyTorch use `padding=k // 2` to mean "same". For odd
# kernels with stride 1 this is identical to Keras's 'same'. But for a 3×3 kernel with
# **stride 2 on an even-sized image**, Keras pads $(0, 1)$ while PyTorch pads $(1, 1)$: the
# output has the same shape, but every window sits **one pixel higher and further left** —
# different numbers, silently. For even kernels, PyTorch's `padding=k//2` does not even give
# the same shape.
#
# We show it numerically without PyTorch: PyTorch's convolution with `padding=p` is, by
# definition, a 'valid' convolution of the input zero-padded by $p$ on all sides.

# %%
def pytorch_style(x, k, stride, p):
    """What torch.nn.Conv2d(padding=p, groups=C) computes: pad p on every side, then 'valid'."""
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))  # (N, H + 2p, W + 2p, C)
    return scratchconv.depthwise_conv2d(xp, k, strides=stride, padding="valid")


for h, kk, s in [(7, 3, 1), (6, 3, 1), (7, 3, 2), (6, 3, 2), (6, 2, 1), (6, 4, 1)]:
    xs = rng.standard_normal((1, h, h, 1))  # (1, H, H, 1)
    ks = rng.standard_normal((kk, kk, 1, 1))  # (k, k, 1, 1)
    ours = scratchconv.depthwise_conv2d(xs, ks, strides=s, padding="same")
    torch_like = pytorch_style(xs, ks, s, kk // 2)
    same = ours.shape == torch_like.shape and max_abs_diff(ours, torch_like) < 1e-12
    g = conv_geometry(xs.shape, (kk, kk), (s, s), "same", (1, 1))
    verdict = "identical" if same else ("DIFFERENT values" if ours.shape == torch_like.shape else "DIFFERENT shapes")
    print(f"H={h} k={kk} s={s}: Keras 'same' pads (top, bottom) = ({g.pad_top},{g.pad_bottom}) -> output "
          f"{ours.shape[1:3]};  PyTorch padding={kk // 2} pads ({kk // 2},{kk // 2}) -> {torch_like.shape[1:3]}:  {verdict}")
    # Odd kernels: the same exactly when Keras's padding happens to be symmetric.
    assert same == (g.pad_top == g.pad_bottom == kk // 2)

# %% [markdown]
# To port a PyTorch model's stride-2 layer to Keras exactly, pad explicitly
# (`ZeroPadding2D(1)` then `padding='valid'`); going the other way, pad $(0, 1)$ yourself
# (`F.pad(x, (0, 1, 0, 1))`) before a `padding=0` convolution. Both checked:

# %%
x6 = rng.standard_normal((1, 6, 6, 1))  # (1, 6, 6, 1)
k6 = rng.standard_normal((3, 3, 1, 1))  # (3, 3, 1, 1)
keras_same = scratchconv.depthwise_conv2d(x6, k6, strides=2, padding="same")  # (1, 3, 3, 1)
bottom_right = np.pad(x6, ((0, 0), (0, 1), (0, 1), (0, 0)))  # (1, 7, 7, 1): the (0, 1) padding by hand
assert max_abs_diff(keras_same, scratchconv.depthwise_conv2d(bottom_right, k6, strides=2)) < 1e-12
# ... and with stride 2, 'same' on an even image equals the stride-1 'same' output's odd rows/columns:
assert max_abs_diff(keras_same, scratchconv.depthwise_conv2d(x6, k6, padding="same")[:, 1::2, 1::2]) < 1e-12
if tk is not None:
    layer = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False, dtype="float64")
    layer.build((None, 6, 6, 1))
    layer.set_weights([k6])
    print(f"Keras 'same', stride 2, 6x6 input: max |Keras - scratchconv| = {max_abs_diff(layer(x6), keras_same):.1e} "
          "(float64)")
    assert max_abs_diff(layer(x6), keras_same) < 1e-12
    assert max_abs_diff(layer(x6), pytorch_style(x6, k6, 2, 1)) > 1e-3  # PyTorch-style padding differs

# %% [markdown]
# The picture: a 6×6 image (white), padding (grey), 3×3 kernel, stride 2. The three
# windows of the first output row are outlined. Keras puts the single padding column on the
# right, so the first window starts on the image's first pixel; PyTorch's `padding=1` puts a
# column on both sides, so every window starts one pixel further left (and one higher).

# %%
def draw_padding(ax, h, top, bottom, k, s, title):
    size_h, size_w = h + top + bottom, h + top + bottom
    grid = np.full((size_h, size_w), 0.35)
    grid[top : top + h, top : top + h] = 0.0
    ax.imshow(grid, cmap="Greys", vmin=0, vmax=1)
    ax.set_xticks(np.arange(-0.5, size_w, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, size_h, 1), minor=True)
    ax.grid(which="minor", color="0.6", linewidth=0.8)
    ax.tick_params(which="both", length=0)
    ax.set_xticks(range(size_w))
    ax.set_xticklabels([str(i - top) if 0 <= i - top < h else "pad" for i in range(size_w)], fontsize=7)
    ax.set_yticks(range(size_h))
    ax.set_yticklabels([str(i - top) if 0 <= i - top < h else "pad" for i in range(size_h)], fontsize=7)
    out = (size_w - k) // s + 1
    for o, color in zip(range(out), ["tab:red", "tab:blue", "tab:green"]):
        inset = 0.1 + 0.08 * o  # a little lower each time, so that the outlines do not hide each other
        ax.add_patch(Rectangle((o * s - 0.4, -0.5 + inset), k - 0.2, k - 0.2, fill=False, edgecolor=color, linewidth=2.5))
    ax.set_title(title, fontsize=9)


fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.8))
g = conv_geometry((1, 6, 6, 1), (3, 3), (2, 2), "same", (1, 1))
draw_padding(axes[0], 6, g.pad_top, g.pad_bottom, 3, 2,
             f"Keras/TF padding='same': pads (top {g.pad_top}, bottom {g.pad_bottom})\nwindows start at image columns 0, 2, 4")
draw_padding(axes[1], 6, 1, 1, 3, 2, "PyTorch padding=1: pads (1, 1)\nwindows start at image columns -1, 1, 3")
fig.suptitle("3x3 kernel, stride 2, 6x6 image: same output shape (3x3), shifted windows", fontsize=11)
fig.tight_layout()
save(fig, "02_same_padding.png")

# %% [markdown]
# ## What to remember
#
# * Depthwise: each channel through its own $k_h \times k_w$ kernel(s); output channel $cM+m$.
# * It is a grouped convolution with `groups = C`.
# * Strides subsample the output; dilation spreads the taps (a bigger kernel with zeros).
# * Keras's 'same' picks $\lceil H/s \rceil$ outputs and puts the odd padding pixel at the
#   bottom/right; PyTorch's `padding=k//2` is symmetric — identical only when Keras's
#   padding happens to be symmetric too.
#
# Next: tutorial 3 shows that the other half, the pointwise convolution, is a matrix multiply.
