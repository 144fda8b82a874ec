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
# # Tutorial 1 — The worked example: standard vs depthwise + pointwise
#
# The article starts with one small example, and so do we:
#
# * a **5×5 image with 3 channels** (shape 5×5×3),
# * a **standard 3×3 convolution with 4 output maps** (kernel 3×3×3×4),
# * the same job done by a **depthwise** convolution (one 3×3 kernel per channel, 3×3×3)
#   followed by a **pointwise** convolution (1×1×3×4).
#
# We compute all of it with `scratchconv`'s own functions, check every number the article
# gives (output shapes, 108 parameters vs 27 + 12 = 39) by running code, compare with Keras,
# and draw the four feature maps of each side by side.
#
# Run it with `python tutorials/01_worked_example.py`, or open it as a notebook.

# %%
import numpy as np

import _common  # tutorials/_common.py: paths, figure saving, optional TensorFlow
from _common import plt, save, keras_or_none, max_abs_diff

import scratchconv
from scratchconv import params

# %% [markdown]
# ## The image and the standard kernel
#
# Small integers keep every number below checkable by hand (and exact in float32).
# Shapes follow Keras: the image is NHWC, a batch of one, `(1, 5, 5, 3)`; the standard kernel
# is `(kh, kw, C_in, F) = (3, 3, 3, 4)`: **4 filters, each holding 3 kernels of 3×3**, one
# kernel per input channel.
#
# A standard convolution (stride 1, no padding, written as Keras computes it — a
# *correlation*, the kernel is not flipped) sums over the window **and over all channels**:
#
# $$ y[i, j, f] = \sum_{a=0}^{2} \sum_{b=0}^{2} \sum_{c=0}^{2} x[i+a,\, j+b,\, c]\; K[a, b, c, f] $$

# %%
rng = np.random.default_rng(2)
x = rng.integers(0, 5, size=(1, 5, 5, 3)).astype(np.float32)  # (1, 5, 5, 3) the image
kernel = rng.integers(-1, 2, size=(3, 3, 3, 4)).astype(np.float32)  # (3, 3, 3, 4) standard kernel

y_same = scratchconv.conv2d(x, kernel, padding="same")  # (1, 5, 5, 4)
y_valid = scratchconv.conv2d(x, kernel, padding="valid")  # (1, 3, 3, 4)
print(f"input image x                       shape (H, W, C)         = {x.shape[1:]}")
print(f"standard conv2d, padding='same':    output (H_out, W_out, F) = {y_same.shape[1:]}")
print(f"standard conv2d, padding='valid':   output (H_out, W_out, F) = {y_valid.shape[1:]}")
assert y_same.shape == (1, 5, 5, 4)  # the article: with same padding, the size of the input
assert y_valid.shape == (1, 3, 3, 4)  # the article: without padding, 3x3

# %% [markdown]
# ## Output shapes with and without padding
#
# With `padding='valid'` the 3×3 window must fit inside the image: it has $5 - 3 + 1 = 3$
# positions per axis, so the output is 3×3. With `padding='same'` and stride 1 the output
# keeps the input's size, $\lceil 5/1 \rceil = 5$: the image gets a border of
# $(k-1)/2 = 1$ zero on every side before the window slides.
#
# The first 'valid' output value by hand — the top-left 3×3×3 block of the image times each
# filter, summed — and the same value inside the 'same' output, one pixel in (the padding
# shifts everything by one):

# %%
for f in range(4):
    by_hand = np.sum(x[0, 0:3, 0:3, :] * kernel[:, :, :, f])  # 27 products, summed
    print(f"filter {f}, first output value: by hand (27 products summed) {by_hand:+4.0f} | "
          f"conv2d 'valid' y[0, 0] {y_valid[0, 0, 0, f]:+4.0f} | conv2d 'same' y[1, 1] {y_same[0, 1, 1, f]:+4.0f}")
    assert by_hand == y_valid[0, 0, 0, f] == y_same[0, 1, 1, f]
assert np.array_equal(y_same[:, 1:-1, 1:-1, :], y_valid)  # the interior of 'same' is 'valid'

# %% [markdown]
# ## Parameters of the standard convolution
#
# Four filters of three 3×3 kernels each:
#
# $$ N_\text{std} = 4 \times 3 \times 3 \times 3 = 108 $$
#
# (weights only, as in the article; Keras adds one bias per output map, 4 more.)

# %%
n_std = params.conv2d_params(3, 3, 3, 4, use_bias=False)
print(f"N_std, weights of the standard kernel (no bias) = 4 x 3 x 3 x 3 = {n_std}  (kernel.size = {kernel.size})")
assert n_std == 4 * 3 * 3 * 3 == kernel.size == 108
assert params.conv2d_params(3, 3, 3, 4) == 108 + 4  # with the biases

# %% [markdown]
# ## Step 1: depthwise convolution — one kernel per channel
#
# A depthwise convolution gives **each channel its own 3×3 kernel** and never mixes
# channels. The kernel has Keras's shape `(kh, kw, C, M) = (3, 3, 3, 1)` (M, the depth
# multiplier, is 1 here: one map per channel):
#
# $$ z[i, j, c] = \sum_{a, b} x[i+a,\, j+b,\, c]\; D[a, b, c] $$
#
# Three channels in, three feature maps out; $N_\text{depthwise} = 3 \times 3 \times 3 = 27$.
# Check: each depthwise map is exactly a standard convolution of that channel alone.

# %%
depthwise = rng.integers(-1, 2, size=(3, 3, 3, 1)).astype(np.float32)  # (3, 3, 3, 1)
z = scratchconv.depthwise_conv2d(x, depthwise, padding="same")  # (1, 5, 5, 3)
print(f"depthwise output z: shape (H, W, C) = {z.shape[1:]}  (one map per input channel)")
assert z.shape == (1, 5, 5, 3)
for c in range(3):
    alone = scratchconv.conv2d(x[..., c : c + 1], depthwise[:, :, c : c + 1, :], padding="same")  # (1, 5, 5, 1)
    assert np.array_equal(z[..., c], alone[..., 0])
n_dw = params.depthwise_params(3, 3, 3, 1, use_bias=False)
print(f"N_depthwise, weights of the depthwise kernel = 3 x 3 x 3 = {n_dw}")
assert n_dw == 3 * 3 * 3 == depthwise.size == 27

# %% [markdown]
# ## Step 2: pointwise convolution — mixing the channels
#
# The depthwise maps never see each other's channels. A **pointwise** (1×1) convolution
# combines them: at every pixel, each of the 4 output maps is a weighted sum of the 3
# depthwise maps, with the kernel `(1, 1, 3, 4)`:
#
# $$ y[i, j, f] = \sum_{c} z[i, j, c]\; P[c, f] $$
#
# $N_\text{pointwise} = 1 \times 1 \times 3 \times 4 = 12$, and the output again has 4 maps
# of 5×5 — the same shape as the standard convolution's.

# %%
pointwise = rng.integers(-1, 2, size=(1, 1, 3, 4)).astype(np.float32)  # (1, 1, 3, 4)
y_sep = scratchconv.pointwise_conv2d(z, pointwise)  # (1, 5, 5, 4)
print(f"pointwise output y: shape (H, W, F) = {y_sep.shape[1:]}  (the standard convolution's shape)")
assert y_sep.shape == y_same.shape == (1, 5, 5, 4)
assert np.array_equal(y_sep, np.einsum("nhwc,cf->nhwf", z, pointwise[0, 0]))  # the formula above
# separable_conv2d does both steps in one call:
assert np.array_equal(y_sep, scratchconv.separable_conv2d(x, depthwise, pointwise, padding="same"))
y_sep_valid = scratchconv.separable_conv2d(x, depthwise, pointwise, padding="valid")  # (1, 3, 3, 4)
assert y_sep_valid.shape == y_valid.shape == (1, 3, 3, 4)

n_pw = params.pointwise_params(3, 4, use_bias=False)
n_sep = params.separable_params(3, 3, 3, 4, 1, use_bias=False)
print(f"N_pointwise = 1 x 1 x 3 x 4 = {n_pw} weights;  N_separable = {n_dw} + {n_pw} = {n_sep} weights  "
      f"vs  N_std = {n_std} weights")
assert n_pw == 1 * 1 * 3 * 4 == pointwise.size == 12
assert n_sep == n_dw + n_pw == 39

# %% [markdown]
# ## How much smaller, in general
#
# For a $k \times k$ kernel, $C$ input channels and $F$ output maps:
#
# $$ \frac{N_\text{separable}}{N_\text{std}} = \frac{k^2 C + C F}{k^2 C F} = \frac{1}{F} + \frac{1}{k^2} $$
#
# Here $\tfrac14 + \tfrac19 = \tfrac{13}{36} \approx 0.36$: "about a third", as the article
# says. With more output maps the ratio approaches $1/k^2 = 1/9$.

# %%
ratio = n_sep / n_std
print(f"N_separable / N_std = 39 / 108 = {ratio:.4f};  the formula 1/F + 1/k^2 with F=4, k=3 gives {1 / 4 + 1 / 9:.4f}")
print("the same ratio for 3x3 layers with C_in input channels and F output maps:")
assert np.isclose(ratio, 1 / 4 + 1 / 9)
for c_in, f_out in [(32, 32), (64, 128), (128, 128)]:
    r = params.separable_params(3, 3, c_in, f_out, 1, use_bias=False) / params.conv2d_params(3, 3, c_in, f_out, use_bias=False)
    print(f"  C_in={c_in:3d} F={f_out:3d}: N_separable / N_std = {r:.4f};  1/F + 1/9 = {1 / f_out + 1 / 9:.4f}")
    assert np.isclose(r, 1 / f_out + 1 / 9)

# %% [markdown]
# ## Separable convolution is a *restricted* standard convolution
#
# Substituting $z$ into $y$:
#
# $$ y[i,j,f] = \sum_{a,b,c} x[i+a, j+b, c]\; \underbrace{D[a,b,c]\, P[c,f]}_{K_\text{sep}[a,b,c,f]} $$
#
# so depthwise + pointwise *is* a standard convolution, with the 108-number kernel
# $K_\text{sep}[a,b,c,f] = D[a,b,c]\,P[c,f]$ built from only 39 numbers. For each input
# channel $c$, the 9×4 matrix $K_\text{sep}[:,:,c,:]$ has rank 1 (an outer product); a
# general standard kernel has rank up to 4 there. That is what the separable layer gives up.

# %%
k_sep = depthwise[:, :, :, 0, None] * pointwise[0, 0][None, None, :, :]  # (3, 3, 3, 4)
assert np.array_equal(scratchconv.conv2d(x, k_sep, padding="same"), y_sep)
for c in range(3):
    rank_sep = np.linalg.matrix_rank(k_sep[:, :, c, :].reshape(9, 4))
    rank_std = np.linalg.matrix_rank(kernel[:, :, c, :].reshape(9, 4))
    print(f"input channel {c}: rank of the 9x4 matrix K_sep[:, :, {c}, :] = {rank_sep} (separable), "
          f"of kernel[:, :, {c}, :] = {rank_std} (the random standard kernel)")
    assert rank_sep == 1  # (a channel whose depthwise kernel or pointwise row were all zero would give 0)

# %% [markdown]
# ## The same through Keras
#
# Keras layers holding the same weights give the same numbers (`use_bias=False`, as the
# article counts), and Keras's own `count_params()` agrees: 108 and 39.

# %%
tk = keras_or_none()
if tk is not None:
    tf, keras = tk
    for padding, ours_std, ours_sep in (("same", y_same, y_sep), ("valid", y_valid, y_sep_valid)):
        k_std = keras.layers.Conv2D(4, 3, padding=padding, use_bias=False)
        k_sepl = keras.layers.SeparableConv2D(4, 3, padding=padding, use_bias=False)
        k_std.build((None, 5, 5, 3))
        k_sepl.build((None, 5, 5, 3))
        k_std.set_weights([kernel])
        k_sepl.set_weights([depthwise, pointwise])
        d_std = max_abs_diff(k_std(x), ours_std)
        d_sep = max_abs_diff(k_sepl(x), ours_sep)
        print(f"padding='{padding}': max |Keras - scratchconv| over the outputs (float32): "
              f"standard {d_std:.1e}, separable {d_sep:.1e}")
        assert d_std <= 1e-5 and d_sep <= 1e-5
    print(f"Keras count_params() (no bias): Conv2D {k_std.count_params()} weights, "
          f"SeparableConv2D {k_sepl.count_params()} weights")
    assert (k_std.count_params(), k_sepl.count_params()) == (108, 39)

# %% [markdown]
# ## The feature maps, side by side
#
# Top to bottom: the image's three channels; the three depthwise maps (each channel filtered
# alone); the four maps of the separable convolution (pointwise mixes of the row above); the
# four maps of the standard convolution. Padding 'same', so every map is 5×5 like the input.

# %%
def draw_map(ax, a, title):
    """One 5x5 map with its values written in the cells."""
    lim = max(1.0, float(np.abs(a).max()))
    ax.imshow(a, cmap="RdBu_r", vmin=-lim, vmax=lim)
    for (r, col), v in np.ndenumerate(a):
        ax.text(col, r, f"{v:.0f}", ha="center", va="center", fontsize=7, color="white" if abs(v) > 0.6 * lim else "black")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


rows = [
    ("input x", [x[0, :, :, c] for c in range(3)], "channel {}"),
    ("depthwise z", [z[0, :, :, c] for c in range(3)], "z: channel {}"),
    ("separable y", [y_sep[0, :, :, f] for f in range(4)], "separable map {}"),
    ("standard y", [y_same[0, :, :, f] for f in range(4)], "standard map {}"),
]
fig, axes = plt.subplots(4, 4, figsize=(8.4, 9.0))
for r, (label, maps, title) in enumerate(rows):
    for col in range(4):
        if col < len(maps):
            draw_map(axes[r, col], maps[col], title.format(col))
        else:
            axes[r, col].axis("off")
    axes[r, 0].set_ylabel(label, fontsize=10)
axes[0, 3].text(0.0, 0.5, "5x5x3 image", fontsize=10, va="center")
axes[1, 3].text(0.0, 0.6, "depthwise 3x3x3\n27 parameters", fontsize=10, va="center")
fig.suptitle("The worked example, padding='same': separable (27 + 12 = 39 weights) vs standard (108)", fontsize=11)
fig.tight_layout()
save(fig, "01_feature_maps.png")

# %% [markdown]
# ## The parameter count as a picture

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.2))
ax.bar(["standard\n3x3x3x4"], [n_std], color="tab:blue")
ax.bar(["separable\n3x3x3 + 1x1x3x4"], [n_dw], color="tab:orange", label=f"depthwise {n_dw}")
ax.bar(["separable\n3x3x3 + 1x1x3x4"], [n_pw], bottom=[n_dw], color="tab:green", label=f"pointwise {n_pw}")
ax.text(0, n_std + 2, str(n_std), ha="center")
ax.text(1, n_sep + 2, f"{n_dw} + {n_pw} = {n_sep}", ha="center")
ax.set_ylabel("weights (no bias)")
ax.set_ylim(0, 125)
ax.legend(loc="upper right")
ax.set_title("Parameters of the worked example")
fig.tight_layout()
save(fig, "01_parameters.png")

# %% [markdown]
# ## What to remember
#
# * Standard: every output map looks at **all** channels through a 3×3 window — 108 weights.
# * Depthwise: each channel through its **own** 3×3 window, no mixing — 27 weights.
# * Pointwise: mixes channels **at each pixel**, no window — 12 weights.
# * Together (39 weights) they are a standard convolution whose kernel is forced to be
#   $D[a,b,c]\,P[c,f]$; the same output shape, about a third of the parameters.
#
# Next: tutorial 2 looks inside the depthwise convolution, loop by loop.
