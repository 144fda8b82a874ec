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
# # Tutorial 4 — The backward passes, derived
#
# To train a network we need, for every convolution, the gradient of the loss with respect
# to its input and to its weights, given the gradient with respect to its output. This
# tutorial derives them with nothing but the chain rule, shows that they are convolutions
# themselves — **dx is a "full" correlation of dy with the flipped kernel, dkernel is a
# correlation of the input with dy** — and checks every formula three ways: against
# `scratchconv`'s backward functions, against finite differences, and against Keras
# (`tf.GradientTape`).

# %%
import numpy as np
from matplotlib.patches import Rectangle

import _common  # tutorials/_common.py: paths, figure saving, optional TensorFlow
from _common import plt, save, keras_or_none, max_abs_diff

import scratchconv
from scratchconv.kernels.arguments import as_pair, conv_geometry, pad_input

rng = np.random.default_rng(4)

# %% [markdown]
# ## The chain rule, once
#
# A layer computes $y = \text{conv}(x, K) + b$; after it, the rest of the network computes a
# scalar loss $L$. Backpropagation hands the layer $dy = \partial L / \partial y$ (same shape
# as $y$) and asks for $dx$, $dK$, $db$. Every parameter $\theta$ influences $L$ only through
# the outputs, so
#
# $$ \frac{\partial L}{\partial \theta} = \sum_{n, o_y, o_x, f} dy[n, o_y, o_x, f]\;
#    \frac{\partial y[n, o_y, o_x, f]}{\partial \theta} . $$
#
# A convolution is linear in $x$ and in $K$, so each $\partial y / \partial \theta$ is just the
# coefficient $\theta$ is multiplied by in the forward sum. That is the whole derivation.
#
# ## Standard convolution
#
# Forward (on the padded input $x_p$, strides $s$, dilation $d$):
#
# $$ y[n, o_y, o_x, f] = b[f] + \sum_{i, j, c} x_p[n,\, o_y s_h + i d_h,\, o_x s_w + j d_w,\, c]\; K[i, j, c, f] $$
#
# **Bias.** $\partial y[\dots, f] / \partial b[f] = 1$:
# $\quad db[f] = \sum_{n, o_y, o_x} dy[n, o_y, o_x, f]$.
#
# **Kernel.** $K[i,j,c,f]$ multiplies $x_p[n, o_y s_h + i d_h, o_x s_w + j d_w, c]$:
#
# $$ dK[i, j, c, f] = \sum_{n, o_y, o_x} x_p[n,\, o_y s_h + i d_h,\, o_x s_w + j d_w,\, c]\; dy[n, o_y, o_x, f] $$
#
# For $s = d = 1$ this is $\sum_n \sum_{o_y, o_x} x_p[n, i + o_y, j + o_x, c]\, dy[n, o_y, o_x, f]$:
# a **'valid' correlation of the input with $dy$** — $dy$ plays the kernel (of size
# $H_\text{out} \times W_\text{out}$), the batch plays the channels summed over. (In general the
# roles swap: the forward's stride becomes the dilation of this correlation, the forward's
# dilation its stride.)
#
# **Input.** $x_p[n, p, q, c]$ is multiplied by $K[i, j, c, f]$ in every output with
# $o_y s_h + i d_h = p$ and $o_x s_w + j d_w = q$. For $s = d = 1$:
#
# $$ dx_p[n, p, q, c] = \sum_{i, j, f} dy[n,\, p - i,\, q - j,\, f]\; K[i, j, c, f] $$
#
# with $dy = 0$ outside its range. Substitute $i' = k_h - 1 - i$, $j' = k_w - 1 - j$ and pad $dy$
# with $k_h - 1$ rows and $k_w - 1$ columns of zeros on every side ($dy_\text{full}$):
#
# $$ dx_p[n, p, q, c] = \sum_{i', j', f} dy_\text{full}[n,\, p + i',\, q + j',\, f]\;
#    \underbrace{K[k_h - 1 - i',\, k_w - 1 - j',\, c,\, f]}_{K_\text{flip}[i', j', f, c]} $$
#
# a **"full" correlation of $dy$ with the kernel flipped in both spatial axes, input and
# output channels swapped**. Then $dx$ is $dx_p$ without the padding. For stride $s$, first
# insert $s - 1$ zeros between the values of $dy$ (every output came from a window $s$ pixels
# on); for dilation $d$, the flipped kernel keeps its dilation. This is the *transposed
# convolution*.
#
# Let us run these formulas — using `scratchconv.conv2d` itself as the correlation engine —
# and compare with `scratchconv.conv2d_backward`. Everything in float64, so agreement means
# ~1e-12.

# %%
def geometry(x, k, cfg):
    """The window geometry (padding, output size) the kernels use, from scratchconv.kernels.arguments."""
    strides, dilation = as_pair(cfg["strides"], "strides"), as_pair(cfg["dilation_rate"], "dilation_rate")
    return conv_geometry(x.shape, (k, k), strides, cfg["padding"], dilation)


def dilate(dy, s):
    """Insert s - 1 zeros between the values of dy along the two spatial axes."""
    sh, sw = s
    n, ho, wo, f = dy.shape
    out = np.zeros((n, (ho - 1) * sh + 1, (wo - 1) * sw + 1, f), dy.dtype)  # (N, (Ho-1)*sh+1, (Wo-1)*sw+1, F)
    out[:, ::sh, ::sw, :] = dy
    return out


def dx_full_correlation(dy, k_flip, x_shape, g, groups=1):
    """dx as a full correlation of (dilated) dy with the flipped kernel, via conv2d.

    k_flip: (kh, kw, F // groups, C) -- the forward kernel flipped, channels swapped.
    """
    eh, ew = (g.kh - 1) * g.dh, (g.kw - 1) * g.dw  # the dilated kernel's extent minus one
    dy_full = np.pad(dilate(dy, (g.sh, g.sw)), ((0, 0), (eh, eh), (ew, ew), (0, 0)))
    dxp = scratchconv.conv2d(dy_full, k_flip, dilation_rate=(g.dh, g.dw), groups=groups)  # (N, <=Hp, <=Wp, C)
    # Padded rows/columns at the bottom/right that no window reached get zero gradient.
    dxp = np.pad(dxp, ((0, 0), (0, g.padded_h - dxp.shape[1]), (0, g.padded_w - dxp.shape[2]), (0, 0)))
    return dxp[:, g.pad_top : g.pad_top + g.h, g.pad_left : g.pad_left + g.w, :]  # (N, H, W, C)


def dkernel_correlation(x, dy, g):
    """dK[i, j, c, f] = sum_n sum_{oy, ox} xp[n, oy*sh + i*dh, ox*sw + j*dw, c] dy[n, oy, ox, f], via conv2d.

    The padded input with batch and channels swapped, (C, Hp, Wp, N), correlated with dy as
    the kernel, (Ho, Wo, N, F): the forward's stride is the dilation, its dilation the stride.
    """
    xp = pad_input(x, g)  # (N, Hp, Wp, C)
    corr = scratchconv.conv2d(
        xp.transpose(3, 1, 2, 0), dy.transpose(1, 2, 0, 3), strides=(g.dh, g.dw), dilation_rate=(g.sh, g.sw)
    )  # (C, >= kh, >= kw, F)
    return corr[:, : g.kh, : g.kw, :].transpose(1, 2, 0, 3)  # (kh, kw, C, F)


configs = [
    dict(strides=1, padding="valid", dilation_rate=1),
    dict(strides=1, padding="same", dilation_rate=1),
    dict(strides=2, padding="same", dilation_rate=1),
    dict(strides=1, padding="same", dilation_rate=2),
    dict(strides=(2, 3), padding="valid", dilation_rate=1),
]
for cfg in configs:
    x = rng.standard_normal((2, 7, 8, 3))  # (N, H, W, C) float64
    k = rng.standard_normal((3, 3, 3, 4))  # (kh, kw, C, F)
    b = rng.standard_normal(4)  # (F,)
    y = scratchconv.conv2d(x, k, b, **cfg)  # (N, Ho, Wo, F)
    dy = rng.standard_normal(y.shape)  # the upstream gradient
    g = geometry(x, 3, cfg)
    dx, dk, db = scratchconv.conv2d_backward(dy, x, k, b, **cfg)
    k_flip = k[::-1, ::-1].transpose(0, 1, 3, 2)  # (kh, kw, F, C): flipped, channels swapped
    e = [
        max_abs_diff(dx, dx_full_correlation(dy, k_flip, x.shape, g)),
        max_abs_diff(dk, dkernel_correlation(x, dy, g)),
        max_abs_diff(db, dy.sum(axis=(0, 1, 2))),
    ]
    print(f"standard {cfg}: max |formula - conv2d_backward| (float64): dx {e[0]:.0e}, dK {e[1]:.0e}, db {e[2]:.0e}")
    assert max(e) < 1e-11

# %% [markdown]
# ## The picture: dx as a full correlation
#
# One channel, one filter, stride 1, 'valid', integers. The 3×3 `dy` is padded by 2 on every
# side ("full"); the flipped kernel slides over it; each position gives one value of `dx`
# (5×5). The outlined window produces the outlined `dx` value. Read the other way, every
# `dy` value stamps a copy of the (unflipped) kernel onto `dx` — the two views are the same
# sum.

# %%
x1 = rng.integers(-2, 3, size=(1, 5, 5, 1)).astype(np.float64)  # (1, 5, 5, 1)
k1 = np.array([[1, 2, 0], [0, -1, 1], [-1, 0, 2]], dtype=np.float64).reshape(3, 3, 1, 1)  # (3, 3, 1, 1)
dy1 = rng.integers(-2, 3, size=(1, 3, 3, 1)).astype(np.float64)  # (1, 3, 3, 1)
dx1 = scratchconv.conv2d_backward(dy1, x1, k1)[0]  # (1, 5, 5, 1)
dy1_full = np.pad(dy1, ((0, 0), (2, 2), (2, 2), (0, 0)))  # (1, 7, 7, 1)
assert np.array_equal(dx1, scratchconv.conv2d(dy1_full, k1[::-1, ::-1]))
p, q = 1, 3  # the dx value we outline
assert dx1[0, p, q, 0] == np.sum(dy1_full[0, p : p + 3, q : q + 3, 0] * k1[::-1, ::-1, 0, 0])


def show(ax, a, title, box=None, lim=6):
    ax.imshow(a, cmap="RdBu_r", vmin=-lim, vmax=lim)
    for (r, col), v in np.ndenumerate(a):
        ax.text(col, r, f"{v:.0f}", ha="center", va="center", fontsize=8)
    if box is not None:
        (r0, c0, size) = box
        ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), size, size, fill=False, edgecolor="black", linewidth=2.5))
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


fig, axes = plt.subplots(1, 4, figsize=(12, 3.6), gridspec_kw={"width_ratios": [3, 3, 7, 5]})
show(axes[0], k1[:, :, 0, 0], "kernel K", lim=3)
show(axes[1], k1[::-1, ::-1, 0, 0], "K flipped (both axes)", lim=3)
show(axes[2], dy1_full[0, :, :, 0], "dy (3x3) padded by k-1 = 2: 'full'", box=(p, q, 3), lim=3)
show(axes[3], dx1[0, :, :, 0], f"dx = full correlation\ndx[{p}, {q}] = sum(window * K flipped) = {dx1[0, p, q, 0]:.0f}", box=(p, q, 1))
fig.suptitle("The input gradient of a convolution is a 'full' correlation of dy with the flipped kernel", fontsize=11)
fig.tight_layout()
save(fig, "04_full_correlation.png")

# %% [markdown]
# ## Depthwise convolution
#
# Forward: $y[n, o_y, o_x, cM + m] = b[cM+m] + \sum_{i,j} x_p[n, o_y s_h + i d_h, o_x s_w + j d_w, c]\; D[i, j, c, m]$.
# The same chain rule, with **no sum over input channels** in the forward, gives:
#
# $$ dD[i, j, c, m] = \sum_{n, o_y, o_x} x_p[n,\, o_y s_h + i d_h,\, o_x s_w + j d_w,\, c]\; dy[n, o_y, o_x, cM+m] $$
#
# (channel $c$ of the input correlated with map $cM+m$ of $dy$), and for $s = d = 1$
#
# $$ dx_p[n, p, q, c] = \sum_{m} \sum_{i, j} dy_\text{full}[n, p + i, q + j, cM + m]\; D[k_h-1-i,\, k_w-1-j,\, c,\, m] $$
#
# — a full correlation of the $M$ maps of channel $c$ with their flipped kernels, summed over
# $m$: a **grouped** convolution with $C$ groups of $M$ input channels each, whose kernel is
# $D$ flipped and reshaped to $(k_h, k_w, M, C)$.

# %%
def depthwise_dkernel_correlation(x, dy, g, multiplier):
    """dD[:, :, c, m]: channel c of the padded input correlated with map c*M + m of dy, via conv2d."""
    xp = pad_input(x, g)  # (N, Hp, Wp, C)
    channels = x.shape[3]
    dd = np.zeros((g.kh, g.kw, channels, multiplier))  # (kh, kw, C, M)
    for c in range(channels):
        for m in range(multiplier):
            corr = scratchconv.conv2d(
                xp[..., c : c + 1].transpose(3, 1, 2, 0),  # (1, Hp, Wp, N)
                dy[..., c * multiplier + m : c * multiplier + m + 1].transpose(1, 2, 0, 3),  # (Ho, Wo, N, 1)
                strides=(g.dh, g.dw),
                dilation_rate=(g.sh, g.sw),
            )  # (1, >= kh, >= kw, 1)
            dd[:, :, c, m] = corr[0, : g.kh, : g.kw, 0]
    return dd


for cfg in configs:
    multiplier = 2
    x = rng.standard_normal((2, 7, 8, 3))  # (N, H, W, C)
    d = rng.standard_normal((3, 3, 3, multiplier))  # (kh, kw, C, M)
    b = rng.standard_normal(3 * multiplier)  # (C*M,)
    y = scratchconv.depthwise_conv2d(x, d, b, **cfg)  # (N, Ho, Wo, C*M)
    dy = rng.standard_normal(y.shape)
    g = geometry(x, 3, cfg)
    dx, dd, db = scratchconv.depthwise_conv2d_backward(dy, x, d, b, **cfg)
    d_flip = d[::-1, ::-1].transpose(0, 1, 3, 2)  # (kh, kw, M, C): group c reads maps c*M .. c*M + M - 1
    e = [
        max_abs_diff(dx, dx_full_correlation(dy, d_flip, x.shape, g, groups=3)),
        max_abs_diff(dd, depthwise_dkernel_correlation(x, dy, g, multiplier)),
        max_abs_diff(db, dy.sum(axis=(0, 1, 2))),
    ]
    print(f"depthwise M=2 {cfg}: max |formula - depthwise_conv2d_backward| (float64): "
          f"dx {e[0]:.0e}, dD {e[1]:.0e}, db {e[2]:.0e}")
    assert max(e) < 1e-11

# %% [markdown]
# ## Pointwise convolution
#
# The 1×1 case of the standard convolution (tutorial 3): with pixels as rows, $Y = XW + b$, so
#
# $$ dX = dY\, W^\top, \qquad dW = X^\top dY, \qquad db = \textstyle\sum_\text{rows} dY . $$
#
# "Flipping" a 1×1 kernel changes nothing, and "full" padding by $k - 1 = 0$ adds nothing: the
# general formulas reduce to these matrix products.
#
# ## Separable convolution: the chain rule through the middle
#
# $z = \text{depthwise}(x, D)$, then $y = \text{pointwise}(z, P) + b$. Backward runs the steps
# in reverse: the pointwise backward gives $dP$, $db$ and $dz = dY\,P^\top$ (the gradient
# arriving at the depthwise output), then the depthwise backward with $dz$ as its upstream
# gradient gives $dD$ and $dx$.

# %%
for cfg in configs:
    x = rng.standard_normal((2, 7, 8, 3))  # (N, H, W, C)
    d = rng.standard_normal((3, 3, 3, 2))  # (kh, kw, C, M)
    pw = rng.standard_normal((1, 1, 6, 4))  # (1, 1, C*M, F)
    b = rng.standard_normal(4)  # (F,)
    y = scratchconv.separable_conv2d(x, d, pw, b, **cfg)  # (N, Ho, Wo, F)
    dy = rng.standard_normal(y.shape)
    dx, dd, dp, db = scratchconv.separable_conv2d_backward(dy, x, d, pw, b, **cfg)
    z = scratchconv.depthwise_conv2d(x, d, **cfg)  # (N, Ho, Wo, C*M), the middle
    dz, dp_chain, db_chain = scratchconv.pointwise_conv2d_backward(dy, z, pw, b)  # step 2 backward
    dx_chain, dd_chain, _ = scratchconv.depthwise_conv2d_backward(dz, x, d, **cfg)  # step 1 backward
    Z, dY = z.reshape(-1, 6), dy.reshape(-1, 4)  # pixels as rows
    e = [max_abs_diff(a, b_) for a, b_ in [(dx, dx_chain), (dd, dd_chain), (dp, dp_chain), (db, db_chain)]]
    e += [max_abs_diff(dp[0, 0], Z.T @ dY), max_abs_diff(dz.reshape(-1, 6), dY @ pw[0, 0].T)]
    print(f"separable {cfg}: max |chain rule - separable_conv2d_backward| over dx, dD, dP, db, dz (float64) "
          f"= {max(e):.0e}")
    assert max(e) < 1e-11

# %% [markdown]
# ## Independent check 1: finite differences
#
# Nothing above proves the backward functions right — it proves the formulas and the code
# agree. An independent check needs only the forward pass: with $L = \sum y \odot R$ for a fixed
# random $R$ (so $dy = R$),
#
# $$ \frac{\partial L}{\partial \theta_k} \approx \frac{L(\theta + h e_k) - L(\theta - h e_k)}{2h} $$
#
# for every single entry $\theta_k$ of $x$, of each weight and of the bias. $L$ is linear in
# each $\theta_k$, so the central difference is exact up to rounding: in float64 with
# $h = 10^{-3}$ we expect agreement to ~1e-10.

# %%
def finite_differences(forward, arrays, R, h=1e-3):
    """dL/d(every entry of every array) for L = sum(forward(*arrays) * R), by central differences."""
    grads = []
    for a in arrays:
        grad = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            saved = a[idx]
            a[idx] = saved + h
            plus = np.sum(forward(*arrays) * R)
            a[idx] = saved - h
            minus = np.sum(forward(*arrays) * R)
            a[idx] = saved
            grad[idx] = (plus - minus) / (2 * h)
        grads.append(grad)
    return grads


cfg = dict(strides=2, padding="same", dilation_rate=1)  # the asymmetric-padding case of tutorial 2
x = rng.standard_normal((2, 6, 6, 3))  # (2, 6, 6, 3)
cases = {
    "standard": (
        lambda x, k, b: scratchconv.conv2d(x, k, b, **cfg),
        lambda dy, x, k, b: scratchconv.conv2d_backward(dy, x, k, b, **cfg),
        [x.copy(), rng.standard_normal((3, 3, 3, 4)), rng.standard_normal(4)],
    ),
    "depthwise": (
        lambda x, d, b: scratchconv.depthwise_conv2d(x, d, b, **cfg),
        lambda dy, x, d, b: scratchconv.depthwise_conv2d_backward(dy, x, d, b, **cfg),
        [x.copy(), rng.standard_normal((3, 3, 3, 2)), rng.standard_normal(6)],
    ),
    "pointwise": (
        lambda x, k, b: scratchconv.pointwise_conv2d(x, k, b),
        lambda dy, x, k, b: scratchconv.pointwise_conv2d_backward(dy, x, k, b),
        [x.copy(), rng.standard_normal((1, 1, 3, 4)), rng.standard_normal(4)],
    ),
    "separable": (
        lambda x, d, p, b: scratchconv.separable_conv2d(x, d, p, b, **cfg),
        lambda dy, x, d, p, b: scratchconv.separable_conv2d_backward(dy, x, d, p, b, **cfg),
        [x.copy(), rng.standard_normal((3, 3, 3, 2)), rng.standard_normal((1, 1, 6, 4)), rng.standard_normal(4)],
    ),
}
GRADIENT_NAMES = {"standard": ("dx", "dkernel", "dbias"), "depthwise": ("dx", "ddepthwise", "dbias"),
                  "pointwise": ("dx", "dkernel", "dbias"), "separable": ("dx", "ddepthwise", "dpointwise", "dbias")}
print("finite differences (h = 1e-3, float64) vs the backward pass, max |difference| / max(1, max |gradient|):")
analytic, numeric = {}, {}
for kind, (forward, backward, arrays) in cases.items():
    R = rng.standard_normal(forward(*arrays).shape)  # dL/dy
    analytic[kind] = backward(R, *arrays)
    numeric[kind] = finite_differences(forward, arrays, R)
    errors = [max_abs_diff(a, nmr) / max(1.0, np.abs(nmr).max()) for a, nmr in zip(analytic[kind], numeric[kind])]
    sizes = sum(a.size for a in arrays)
    print(f"  {kind:9s}: {sizes} entries checked; "
          + ", ".join(f"{name} {er:.0e}" for name, er in zip(GRADIENT_NAMES[kind], errors)))
    assert max(errors) < 1e-8

# %% [markdown]
# The same comparison as a picture: every gradient entry, finite differences against the
# backward pass, on the diagonal.

# %%
fig, axes = plt.subplots(1, 4, figsize=(13, 3.5))
names = {"standard": ["dx", "dK", "db"], "depthwise": ["dx", "dD", "db"], "pointwise": ["dx", "dW", "db"], "separable": ["dx", "dD", "dP", "db"]}
for ax, kind in zip(axes, cases):
    for name, a, nmr in zip(names[kind], analytic[kind], numeric[kind]):
        ax.scatter(nmr.ravel(), a.ravel(), s=8, label=f"{name} ({a.size})")
    lim = max(np.abs(nmr).max() for nmr in numeric[kind]) * 1.05
    ax.plot([-lim, lim], [-lim, lim], color="0.3", linewidth=0.8)
    err = max(max_abs_diff(a, nmr) for a, nmr in zip(analytic[kind], numeric[kind]))
    ax.set_title(f"{kind}: max |difference| {err:.0e}", fontsize=10)
    ax.set_xlabel("finite differences")
    ax.legend(fontsize=7, loc="upper left")
axes[0].set_ylabel("scratchconv backward")
fig.suptitle("Every gradient entry: finite differences (x) vs the backward pass (y); float64, strides 2 and 'same' where the kind has them", fontsize=11)
fig.tight_layout()
save(fig, "04_gradient_check.png")

# %% [markdown]
# ## Independent check 2: Keras and `tf.GradientTape`
#
# The same four layers in Keras, holding the same weights; TensorFlow's automatic
# differentiation gives the gradients of $L = \sum y \odot R$ with respect to the input and
# every weight.

# %%
tk = keras_or_none()
if tk is not None:
    tf, keras = tk
    x_in = cases["standard"][2][0]
    layers = {
        "standard": keras.layers.Conv2D(4, 3, dtype="float64", **cfg),
        "depthwise": keras.layers.DepthwiseConv2D(3, depth_multiplier=2, dtype="float64", **cfg),
        "pointwise": keras.layers.Conv2D(4, 1, dtype="float64"),
        "separable": keras.layers.SeparableConv2D(4, 3, depth_multiplier=2, dtype="float64", **cfg),
    }
    for kind, layer in layers.items():
        forward, backward, arrays = cases[kind]
        layer.build((None, *x_in.shape[1:]))
        layer.set_weights(arrays[1:])  # Keras's weight order is ours: kernel(s), then bias
        R = rng.standard_normal(forward(*arrays).shape)
        xt = tf.constant(x_in)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            loss = tf.reduce_sum(layer(xt) * R)
        keras_grads = tape.gradient(loss, [xt, *layer.trainable_weights])
        ours = backward(R, *arrays)
        errs = [max_abs_diff(kg, o) for kg, o in zip(keras_grads, ours)]
        print(f"{kind:9s}: max |Keras (tf.GradientTape) - scratchconv| (float64): "
              + ", ".join(f"{name} {er:.0e}" for name, er in zip(GRADIENT_NAMES[kind], errs)))
        assert max(errs) < 1e-10

# %% [markdown]
# ## What to remember
#
# | kind | $dx$ | $d$weights | $db$ |
# |---|---|---|---|
# | standard | full correlation of $dy$ with $K$ flipped, channels swapped | input ⋆ $dy$, summed over the batch | $\sum dy$ |
# | depthwise | the same per channel (groups $= C$), summed over $m$ | channel $c$ ⋆ map $cM+m$ of $dy$ | $\sum dy$ |
# | pointwise | $dY\,W^\top$ | $X^\top dY$ | $\sum dY$ |
# | separable | depthwise backward of $dz = dY P^\top$ | $dD$ from that, $dP = Z^\top dY$ | $\sum dY$ |
#
# Strides turn into zeros inserted in $dy$ (and into the dilation of the kernel-gradient
# correlation); 'same' padding is cropped off $dx_p$. The backward of a convolution is a
# convolution — which is why the fast kernels can reuse the forward's machinery.
#
# Next: tutorial 5 counts parameters and multiply-adds of a real network, and times them.
