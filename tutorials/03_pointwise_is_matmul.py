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
# # Tutorial 3 — A pointwise convolution is a matrix multiply
#
# The second half of a separable convolution is the pointwise (1×1) convolution. Its
# "window" is a single pixel, so there is nothing to slide: at every pixel, the vector of
# $C$ channel values is multiplied by the same $C \times F$ matrix. Put all pixels in the rows
# of one matrix and the whole layer is **one matrix multiply** — the same thing as a Dense
# layer applied at every pixel. This tutorial shows it numerically, five ways.

# %%
import inspect

import numpy as np
from matplotlib.patches import Rectangle

import _common  # tutorials/_common.py: paths, figure saving, optional TensorFlow
from _common import plt, save, keras_or_none, max_abs_diff

import scratchconv
from scratchconv import naive

# %% [markdown]
# ## The formula
#
# Input $x$ $(N, H, W, C)$, kernel $(1, 1, C, F)$ — write $W = \text{kernel}[0, 0]$, a $C \times F$
# matrix — and bias $b$ $(F,)$:
#
# $$ y[n, i, j, f] = b[f] + \sum_{c} x[n, i, j, c]\; W[c, f]
#    \qquad\Longleftrightarrow\qquad
#    y[n, i, j, :] = x[n, i, j, :]\; W + b $$
#
# Stack the $NHW$ pixels as the rows of a matrix $X$ $(NHW \times C)$: then
#
# $$ Y = X W + \mathbf{1} b^\top, \qquad Y \in \mathbb{R}^{NHW \times F} $$
#
# and `y` is `Y` reshaped back to $(N, H, W, F)$. In NHWC memory order, $X$ *is* `x`: the
# reshape copies nothing.
#
# The loop-by-loop version in the package, printed from the source:

# %%
fn = naive.pointwise_conv2d
print(f"--- source of scratchconv.naive.pointwise_conv2d (module {fn.__module__}, function {fn.__name__}) ---")
print(inspect.getsource(fn))
print("--- end of source ---")

# %% [markdown]
# ## Five ways to the same numbers

# %%
rng = np.random.default_rng(3)
n, h, w, c, f = 2, 4, 5, 3, 4
x = rng.standard_normal((n, h, w, c)).astype(np.float32)  # (2, 4, 5, 3)
kernel = rng.standard_normal((1, 1, c, f)).astype(np.float32)  # (1, 1, 3, 4)
bias = rng.standard_normal(f).astype(np.float32)  # (4,)
W = kernel[0, 0]  # (3, 4)

y = scratchconv.pointwise_conv2d(x, kernel, bias)  # (2, 4, 5, 4)
print(f"input x (N, H, W, C) = {x.shape} -> pointwise, kernel (1, 1, C, F) = {kernel.shape} -> output y (N, H, W, F) = {y.shape}")

# 1. one pixel: a vector-matrix product
pixel = x[1, 2, 3] @ W + bias  # (4,)
print("pixel (n, i, j) = (1, 2, 3), its 4 output values:")
print("  x[1, 2, 3] @ W + b   =", pixel)
print("  pointwise y[1, 2, 3] =", y[1, 2, 3])
assert max_abs_diff(pixel, y[1, 2, 3]) < 1e-5

# 2. all pixels: one matrix multiply
X = x.reshape(n * h * w, c)  # (40, 3): one row per pixel
Y = X @ W + bias  # (40, 4)
assert np.shares_memory(X, x)  # the reshape is a view: NHWC already stores pixels as rows
print(f"max |matmul X @ W + b - pointwise_conv2d| = {max_abs_diff(Y.reshape(n, h, w, f), y):.1e} (float32)")
assert max_abs_diff(Y.reshape(n, h, w, f), y) < 1e-5

# 3. the loop version and 4. a standard convolution with a 1x1 kernel
assert max_abs_diff(naive.pointwise_conv2d(x, kernel, bias), y) < 1e-5
assert max_abs_diff(scratchconv.conv2d(x, kernel, bias), y) < 1e-5
print(f"max |loop version - pointwise_conv2d|     = {max_abs_diff(naive.pointwise_conv2d(x, kernel, bias), y):.1e} (float32)")
print(f"max |conv2d 1x1 - pointwise_conv2d|       = {max_abs_diff(scratchconv.conv2d(x, kernel, bias), y):.1e} (float32)")

# %% [markdown]
# 5. Keras: a `Dense(F)` layer applied to a 4-D tensor acts on the last axis — at every pixel,
# with the same weights — and gives the same numbers as `Conv2D(F, 1)` and as ours. The
# weights are literally the same arrays: Dense's kernel is $W$ $(C, F)$, Conv2D's is $W$
# reshaped to $(1, 1, C, F)$.

# %%
tk = keras_or_none()
if tk is not None:
    tf, keras = tk
    dense = keras.layers.Dense(f)
    dense.build((None, h, w, c))
    dense.set_weights([W, bias])
    conv = keras.layers.Conv2D(f, 1)
    conv.build((None, h, w, c))
    conv.set_weights([kernel, bias])
    d_dense, d_conv = max_abs_diff(dense(x), y), max_abs_diff(conv(x), y)
    print(f"max |Keras Dense(4) at every pixel - ours| = {d_dense:.1e};  max |Keras Conv2D(4, 1) - ours| = {d_conv:.1e}"
          " (float32)")
    assert d_dense < 1e-5 and d_conv < 1e-5
    assert dense.count_params() == conv.count_params() == c * f + f  # 12 weights + 4 biases

# %% [markdown]
# ## The picture
#
# Left to right: $X$ (one row per pixel, 40 = 2·4·5 rows, 3 channels), $W$ (3×4), and
# $Y = XW + b$ (40×4), every matrix entry one coloured square. The row of pixel `(n=1, i=2, j=3)` is outlined in $X$ and in $Y$: that
# output row depends on that input row only — a pointwise convolution never looks at a
# neighbour.

# %%
row = (1 * h + 2) * w + 3  # the row of pixel (1, 2, 3) in X and Y
fig, ax = plt.subplots(figsize=(7.5, 8.5))
lim = float(max(np.abs(X).max(), np.abs(W).max(), np.abs(Y).max()))
w_top = (X.shape[0] - c) / 2  # W drawn level with the middle of X
blocks = [(X, 0, 0, f"X\n{X.shape[0]} pixels x {c} channels"), (W, c + 2, w_top, f"W = kernel[0, 0]\n{c} x {f}"),
          (Y, c + f + 4, 0, f"Y = X W + b\n{Y.shape[0]} x {f}")]
for mat, left, top, title in blocks:  # every matrix cell drawn as a unit square
    ax.imshow(mat, cmap="RdBu_r", vmin=-lim, vmax=lim, extent=(left, left + mat.shape[1], top + mat.shape[0], top))
    ax.add_patch(Rectangle((left, top), mat.shape[1], mat.shape[0], fill=False, edgecolor="0.3", linewidth=0.8))
    ax.text(left + mat.shape[1] / 2, top - 0.6, title, ha="center", va="bottom", fontsize=9)
ax.text(c + 1, X.shape[0] / 2, "x", ha="center", va="center", fontsize=16)
ax.text(c + f + 3, X.shape[0] / 2, "=", ha="center", va="center", fontsize=16)
for left, width in ((0, c), (c + f + 4, f)):
    ax.add_patch(Rectangle((left, row), width, 1, fill=False, edgecolor="black", linewidth=2.5))
ax.add_patch(Rectangle((c + 2, w_top), f, c, fill=False, edgecolor="black", linewidth=2.5))
ax.annotate("pixel (1, 2, 3)", xy=(c + f + 4 + f, row + 0.5), xytext=(c + f + 4 + f + 0.4, row + 0.5), va="center", fontsize=9)
ax.annotate("pixel (1, 2, 3)", xy=(0, row + 0.5), xytext=(-0.4, row + 0.5), va="center", ha="right", fontsize=9)
ax.set_xlim(-4.5, 2 * f + c + 8.5)
ax.set_ylim(X.shape[0] + 0.5, -4)
ax.axis("off")
ax.set_title("A pointwise (1x1) convolution is one matrix multiply over all pixels:\n"
             "row (1, 2, 3) of Y = row (1, 2, 3) of X times all of W, plus b", fontsize=10)
fig.tight_layout()
save(fig, "03_pointwise_matmul.png")

# %% [markdown]
# ## Its backward pass is matrix multiplies too
#
# With $Y = XW + \mathbf 1 b^\top$ and the upstream gradient $dY = \partial L/\partial Y$
# (tutorial 4 derives these for every kind of convolution):
#
# $$ dX = dY\, W^\top, \qquad dW = X^\top dY, \qquad db = \mathbf 1^\top dY $$
#
# Checked against `scratchconv.pointwise_conv2d_backward`:

# %%
dy = rng.standard_normal(y.shape).astype(np.float32)  # (2, 4, 5, 4)
dY = dy.reshape(n * h * w, f)  # (40, 4)
dx, dkernel, dbias = scratchconv.pointwise_conv2d_backward(dy, x, kernel, bias)
assert max_abs_diff(dx, (dY @ W.T).reshape(x.shape)) < 1e-5  # (2, 4, 5, 3)
assert max_abs_diff(dkernel, (X.T @ dY).reshape(kernel.shape)) < 1e-4  # (1, 1, 3, 4), a sum of 40 products
assert max_abs_diff(dbias, dY.sum(axis=0)) < 1e-5  # (4,)
print("gradients as matrix products vs pointwise_conv2d_backward, max |difference| (float32):")
print(f"  dx = dY W^T          {max_abs_diff(dx, (dY @ W.T).reshape(x.shape)):.1e}")
print(f"  dW = X^T dY          {max_abs_diff(dkernel, (X.T @ dY).reshape(kernel.shape)):.1e}")
print(f"  db = column sums dY  {max_abs_diff(dbias, dY.sum(axis=0)):.1e}")

# %% [markdown]
# ## Cost
#
# A $(NHW \times C)$ by $(C \times F)$ product costs $NHW \cdot C \cdot F$ multiply-adds, the
# count of a pointwise layer. For one 28×28 image with 32 channels in and out that is
# $28 \cdot 28 \cdot 32 \cdot 32 = 802{,}816$ multiply-adds. Because it *is* a matrix multiply,
# the fast path can hand it to BLAS, the most optimised routine on any machine (tutorial 5
# measures what that means for speed).
#
# ## A separable convolution = depthwise, then this matrix multiply
#
# So the whole separable convolution is: filter each channel on its own (tutorial 2), then
# multiply every pixel's channel vector by $W$:

# %%
dw_kernel = rng.standard_normal((3, 3, c, 1)).astype(np.float32)  # (3, 3, 3, 1)
z = scratchconv.depthwise_conv2d(x, dw_kernel, padding="same")  # (2, 4, 5, 3)
by_hand = (z.reshape(-1, c) @ W + bias).reshape(n, h, w, f)  # (2, 4, 5, 4)
sep = scratchconv.separable_conv2d(x, dw_kernel, kernel, bias, padding="same")  # (2, 4, 5, 4)
print(f"max |depthwise then matmul - separable_conv2d| = {max_abs_diff(by_hand, sep):.1e} (float32)")
assert max_abs_diff(by_hand, sep) < 1e-5
print(f"multiply-adds for one 28x28x32 -> 32 pointwise layer: {28 * 28 * 32 * 32:,}")

# %% [markdown]
# ## What to remember
#
# * 1×1 convolution = Dense at every pixel = one matrix multiply $Y = XW + b$ over the
#   $NHW$ pixel rows; in NHWC the reshape is free.
# * Its gradients are matrix multiplies as well.
# * It mixes channels and never looks at neighbours; the depthwise step looks at
#   neighbours and never mixes channels. Together: a separable convolution.
#
# Next: tutorial 4 derives the backward passes of all four kinds.
