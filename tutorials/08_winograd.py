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
# # Tutorial 8 — Winograd: a 3×3 convolution with fewer multiplications
#
# A direct 3×3 convolution spends 9 multiply-adds per output pixel and channel pair: a 2×2
# block of outputs costs 36. Winograd's *minimal filtering* (Lavin & Gray 2016) gets the same
# 2×2 block from **16** multiplications, and a 4×4 block from 36 instead of 144. scratchconv
# uses it (`scratchconv.conv2d(..., algorithm="winograd")`, and `"auto"` for 3×3 layers of 16 to
# 128 channels (48 or more in and out together) with outputs of 7×7 pixels or more). This tutorial derives the algorithm from
# one dimension up, checks each step numerically, draws the tiles, shows the whole layer as 16
# (or 36) matrix products, explains why scratchconv's 4×4 version uses the points 0, ±1, ½, −2
# rather than Lavin's 0, ±1, ±2 (float32 error, measured), and finally times it against the two
# other algorithms at the article's layer shapes.
#
# With `SCRATCHCONV_QUICK=1` the timings use a small batch and few repeats (the numbers are
# then only a smoke test).

# %%
import os
import time

import numpy as np
from matplotlib.patches import Rectangle

import _common  # tutorials/_common.py: paths, figure saving, quick mode, optional TensorFlow
from _common import QUICK, plt, save, keras_or_none, max_abs_diff

import scratchconv
from scratchconv import naive
from scratchconv.kernels.arguments import check_conv2d_args
from scratchconv.kernels.standard import _choose  # what algorithm="auto" picks, as conv2d decides it
from scratchconv.kernels.standard_winograd import MATRICES, conv2d_winograd_naive
from scratchconv.kernels.standard_winograd import tile_grid, tile_row_chunks, transformed_kernel, winograd_tile
from scratchconv.kernels.standard_winograd_transforms import _gather_tiles, _output_tiles  # the Numba transforms

rng = np.random.default_rng(8)

# %% [markdown]
# ## One dimension: F(2, 3)
#
# Correlate 4 inputs $d_0..d_3$ with a 3-tap filter $g_0..g_2$ ("valid", as a convolution layer
# does): 2 outputs, 6 multiplications.
#
# $$ y_0 = d_0 g_0 + d_1 g_1 + d_2 g_2, \qquad y_1 = d_1 g_0 + d_2 g_1 + d_3 g_2 $$
#
# Winograd's F(2, 3) does it with 4:
#
# $$ m_1 = (d_0 - d_2)\, g_0, \quad m_2 = (d_1 + d_2)\,\tfrac{g_0 + g_1 + g_2}{2}, \quad
#    m_3 = (d_2 - d_1)\,\tfrac{g_0 - g_1 + g_2}{2}, \quad m_4 = (d_1 - d_3)\, g_2 $$
#
# $$ y_0 = m_1 + m_2 + m_3, \qquad y_1 = m_2 - m_3 - m_4 . $$
#
# Why it works: $m_2 + m_3 = d_2 (g_0 + g_2) + d_1 g_1$ and $m_2 - m_3 = d_1 (g_0 + g_2) + d_2 g_1$,
# so $m_1 + m_2 + m_3 = d_0 g_0 - d_2 g_0 + d_2 g_0 + d_2 g_2 + d_1 g_1$ $= y_0$, and likewise
# $y_1$. The filter's sums $(g_0 \pm g_1 + g_2)/2$ are computed **once per filter**, not per
# output: in a network the same filter slides over thousands of positions. So the cost per
# output pair is the 4 products and some additions.

# %%
d = np.array([2.0, -1.0, 3.0, 1.0])  # (4,): inputs d0..d3
g = np.array([1.0, 2.0, -1.0])  # (3,): filter g0..g2


def f23(d, g):
    """Winograd's F(2, 3): the 2 outputs of a 3-tap correlation of 4 inputs, from 4 products."""
    m1 = (d[0] - d[2]) * g[0]
    m2 = (d[1] + d[2]) * (g[0] + g[1] + g[2]) / 2
    m3 = (d[2] - d[1]) * (g[0] - g[1] + g[2]) / 2
    m4 = (d[1] - d[3]) * g[2]
    return np.array([m1 + m2 + m3, m2 - m3 - m4]), (m1, m2, m3, m4)


y_wino, ms = f23(d, g)
y_direct = np.correlate(d, g, mode="valid")  # (2,): y_i = sum_k d[i + k] g[k]
print(f"d = {d}, g = {g}")
print("m1, m2, m3, m4                 =", ms)
print("F(2,3): y0 = m1+m2+m3, y1 = m2-m3-m4 =", y_wino)
print("direct np.correlate(d, g, 'valid')   =", y_direct)
assert np.array_equal(y_wino, y_direct)  # exact: these numbers and the halves are exact in binary

# %% [markdown]
# One example is not a proof, but this one can be made one: both sides are **bilinear** (linear
# in $d$ for fixed $g$ and in $g$ for fixed $d$), so they are equal for every $d, g$ as soon as
# they are equal on every pair of basis vectors $e_j, e_k$ — 4 × 3 = 12 cases. And on random
# vectors, for good measure:

# %%
basis_d, basis_g = np.eye(4), np.eye(3)
for j in range(4):
    for k in range(3):
        assert np.array_equal(f23(basis_d[j], basis_g[k])[0], np.correlate(basis_d[j], basis_g[k], mode="valid"))
random_pairs = [(rng.standard_normal(4), rng.standard_normal(3)) for _ in range(1000)]
worst = max(max_abs_diff(f23(dd, gg)[0], np.correlate(dd, gg, mode="valid")) for dd, gg in random_pairs)
print(f"F(2,3) = direct on all 12 basis pairs (exactly); max |difference| on 1000 random pairs = {worst:.1e} (float64)")
assert worst < 1e-14

# %% [markdown]
# ## The same thing as matrices
#
# Write the four sums of inputs as $B^\top d$, the four combinations of the filter as $G g$,
# multiply them **elementwise** ($\odot$: the 4 products) and combine the products with $A^\top$:
#
# $$ y = A^\top \big[ (G g) \odot (B^\top d) \big] $$
#
# These are scratchconv's matrices, `scratchconv.kernels.standard_winograd.MATRICES[2]`
# (Lavin & Gray's F(2, 3)):

# %%
b_t2, g2, a_t2 = MATRICES[2]  # B^T (4, 4), G (4, 3), A^T (2, 4)
for name, mat in (("B^T (4x4), transforms 4 inputs", b_t2), ("G (4x3), transforms the 3 filter taps", g2),
                  ("A^T (2x4), maps the 4 products to 2 outputs", a_t2)):
    print(f"{name}:\n{mat}")
y_matrices = a_t2 @ ((g2 @ g) * (b_t2 @ d))  # (2,)
print("the 4 products (G g) * (B^T d)     =", (g2 @ g) * (b_t2 @ d), " (= m1, m2, m3, m4)")
print("A^T [(G g) * (B^T d)]              =", y_matrices)
assert np.array_equal(y_matrices, y_direct)
for dd, gg in random_pairs[:100]:
    assert max_abs_diff(a_t2 @ ((g2 @ gg) * (b_t2 @ dd)), np.correlate(dd, gg, mode="valid")) < 1e-14

# %% [markdown]
# ## Two dimensions: nest it
#
# A 3×3 correlation is a 3-tap correlation along the rows of a 3-tap correlation along the
# columns. Apply F(2, 3) in both directions: a 4×4 input tile $d$ gives a 2×2 output tile
#
# $$ Y = A^\top \big[ (G g G^\top) \odot (B^\top d B) \big] A $$
#
# with $U = G g G^\top$ (4×4, once per filter), $V = B^\top d B$ (4×4, once per input tile) and
# **16** elementwise products — where the direct method takes 4 outputs × 9 taps = 36.

# %%
d2 = rng.integers(-4, 5, size=(4, 4)).astype(np.float64)  # (4, 4): an input tile
g3 = rng.integers(-3, 4, size=(3, 3)).astype(np.float64)  # (3, 3): a 3x3 filter
U = g2 @ g3 @ g2.T  # (4, 4)
V = b_t2 @ d2 @ b_t2.T  # (4, 4)
Y = a_t2 @ (U * V) @ a_t2.T  # (2, 2): from 16 products
Y_direct = np.array([[np.sum(d2[i:i + 3, j:j + 3] * g3) for j in range(2)] for i in range(2)])  # (2, 2)
print(f"input tile d (4x4):\n{d2}\nfilter g (3x3):\n{g3}")
print(f"Winograd Y = A^T [(G g G^T) * (B^T d B)] A (2x2), 16 products:\n{Y}")
print(f"direct 3x3 correlation (2x2), 36 products:\n{Y_direct}")
assert np.array_equal(Y, Y_direct)

# %% [markdown]
# ## Counting
#
# Per output tile and per (input channel, filter) pair:
#
# | | direct | Winograd | fewer |
# |---|---|---|---|
# | F(2×2, 3×3): 4×4 input tile → 2×2 outputs | 4 · 9 = 36 | 4² = 16 | 2.25× |
# | F(4×4, 3×3): 6×6 input tile → 4×4 outputs | 16 · 9 = 144 | 6² = 36 | 4× |
#
# The transforms are additions and multiplications by constants, and they are **shared**: $V$ of
# a tile is computed once per input channel and used by every filter; the inverse transform
# runs once per tile and filter, after the sum over the input channels (it is linear, so it can
# wait until the products of all channels are added up). Per channel pair, their cost is
# divided by the number of filters or channels:

# %%
print("per output tile and (input channel, filter) pair:")
for m in (2, 4):
    b_t, gm, a_t = MATRICES[m]
    alpha = m + 2
    direct, products = m * m * 9, alpha * alpha
    # each 1-D transform applied as its matrix without its zeros: nonzero entries = operations
    input_ops = 2 * alpha * np.count_nonzero(b_t)  # B^T d B: B^T on alpha columns, then on alpha rows
    output_ops = (alpha + m) * np.count_nonzero(a_t)  # A^T M A: alpha columns, then m rows
    print(f"  F({m}x{m}, 3x3): direct {direct} multiply-adds, Winograd {products} products ({direct / products:.2f}x fewer); "
          f"input transform {input_ops} ops per tile and input channel, inverse {output_ops} per tile and filter")
    for c in (32, 64, 128):
        total = products + input_ops / c + output_ops / c
        print(f"      with C_in = F = {c:3d}: {products} + {input_ops}/{c} + {output_ops}/{c} = {total:5.1f} ops per pair "
              f"against {direct} ({direct / total:.2f}x fewer)")

# %% [markdown]
# ## One tile, drawn
#
# The input tile is transformed to $V$, the filter to $U$, the 16 products $U \odot V$ are taken
# point by point, and $A^\top (\cdot) A$ turns them into the 2×2 outputs.

# %%


def draw_matrix(ax, mat, title, fmt="{:g}", cmap="RdBu_r"):
    """A matrix as coloured cells with its numbers written in them."""
    lim = max(float(np.abs(mat).max()), 1e-12)
    ax.imshow(mat, cmap=cmap, vmin=-lim, vmax=lim)
    for (i, j), value in np.ndenumerate(mat):
        ax.text(j, i, fmt.format(round(float(value), 2) + 0.0), ha="center", va="center", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


fig, axes = plt.subplots(1, 6, figsize=(16, 3.4), gridspec_kw=dict(width_ratios=[4, 4, 3, 4, 4, 2]))
for ax, mat, title in zip(axes, (d2, V, g3, U, U * V, Y),
                          ("input tile d (4x4)", "V = B^T d B", "filter g (3x3)", "U = G g G^T", "U * V: 16 products",
                           "Y = A^T (U * V) A\n= direct 3x3 (2x2)")):
    draw_matrix(ax, mat, title)
fig.suptitle("Winograd F(2x2, 3x3) on one tile and one channel pair: 16 multiplications instead of 36", fontsize=11)
fig.tight_layout()
save(fig, "08_one_tile.png")

# %% [markdown]
# ## The tiles over an image
#
# Over a whole image, output tiles of 2×2 are laid edge to edge; each needs the 4×4 input tile
# that covers its 3×3 windows, so neighbouring **input tiles overlap by 2 pixels** (stride 2).
# With 'same' padding the input tiles reach into the zero border; on the right and bottom a
# tile can stick out of the output (a "ragged" tile): its extra outputs are computed and dropped.

# %%
img_h = img_w = 8
m = 2
image = rng.random((img_h, img_w))  # (8, 8): a small image, one channel
padded = np.pad(image, 1)  # (10, 10): 'same' padding for a 3x3 kernel
tiles_h, tiles_w = -(-img_h // m), -(-img_w // m)  # 4 x 4 output tiles
fig, (ax_in, ax_out) = plt.subplots(1, 2, figsize=(11, 5.4))
ax_in.imshow(padded, cmap="Greys", vmin=0, vmax=1.5, extent=(0, 10, 10, 0))
ax_in.add_patch(Rectangle((1, 1), img_w, img_h, fill=False, edgecolor="0.3", linewidth=1.5, linestyle=":"))
ax_out.imshow(np.zeros((img_h, img_w)), cmap="Greys", vmin=0, vmax=1, extent=(0, img_w, img_h, 0))
for k in range(1, tiles_w):
    ax_out.axvline(k * m, color="0.5", linewidth=0.8)
    ax_out.axhline(k * m, color="0.5", linewidth=0.8)
shown = {(0, 0): "tab:red", (0, 1): "tab:blue", (1, 1): "tab:green", (3, 3): "tab:purple"}
for (th, tw), color in shown.items():
    inset = 0.08 * (1 + list(shown).index((th, tw)) % 2)  # overlapping outlines drawn slightly apart
    ax_in.add_patch(Rectangle((tw * m + inset, th * m + inset), 4 - 2 * inset, 4 - 2 * inset, fill=False,
                              edgecolor=color, linewidth=2.5))
    ax_in.text(tw * m + 0.25, th * m + 0.55, f"({th},{tw})", color=color, fontsize=9, fontweight="bold")
    ax_out.add_patch(Rectangle((tw * m, th * m), m, m, facecolor=color, alpha=0.55, edgecolor=color, linewidth=2))
    ax_out.text(tw * m + 1, th * m + 1, f"({th},{tw})", ha="center", va="center", fontsize=9, fontweight="bold")
ax_in.set_title("input 8x8 with its 'same' zero border (10x10):\n4x4 input tiles, stride 2, overlapping by 2", fontsize=10)
ax_out.set_title(f"output 8x8: {tiles_h}x{tiles_w} = {tiles_h * tiles_w} output tiles of 2x2,\n"
                 "each from the input tile of the same colour", fontsize=10)
for ax, size in ((ax_in, 10), (ax_out, img_w)):
    ax.set_xticks(range(size + 1))
    ax.set_yticks(range(size + 1))
    ax.tick_params(labelsize=7)
fig.tight_layout()
save(fig, "08_tiles.png")
print(f"an {img_h}x{img_w} image, 'same': {tiles_h}x{tiles_w} output tiles of {m}x{m}, each from a {m + 2}x{m + 2} input tile;"
      f" input tile (th, tw) starts at padded pixel (2 th, 2 tw)")

# %% [markdown]
# ## The whole layer: 16 matrix products
#
# With $C$ input channels and $F$ filters, output $f$ of a tile is
# $A^\top \big[\sum_c U_{c,f} \odot V_c\big] A$. Look at one of the 16 points $\xi$ (one entry of
# the 4×4 tile) at a time: over all tiles $t$,
#
# $$ M[\xi]_{t, f} = \sum_c V[\xi]_{t, c}\; U[\xi]_{c, f}
#    \qquad\Longleftrightarrow\qquad M[\xi] = V[\xi]\, U[\xi], $$
#
# a $(T \times C)$ by $(C \times F)$ **matrix product** — one per point: the layer becomes 16
# (for F(4×4): 36) matrix products, which BLAS runs fast, between two cheap transforms. Written
# out in NumPy (this function takes any $B^\top, G, A^\top$; it is used again below):

# %%


def winograd_layer(x, kernel, matrices, padding="same", products_dtype=None):
    """conv2d of a 3x3 kernel at stride 1 by Winograd, in NumPy: alpha^2 matrix products.

    x (N, H, W, C), kernel (3, 3, C, F); matrices = (B^T (alpha, alpha), G (alpha, 3), A^T (m, alpha)).
    Computes in x's dtype, except U = G g G^T, in float64 (as scratchconv does) then rounded;
    products_dtype: the dtype of the alpha^2 products alone (default: x's).
    """
    b_t, gm, a_t = matrices
    m, alpha = a_t.shape
    n, h, w, c = x.shape
    f = kernel.shape[3]
    pad = 1 if padding == "same" else 0
    out_h, out_w = h + 2 * pad - 2, w + 2 * pad - 2
    tiles_h, tiles_w = -(-out_h // m), -(-out_w // m)
    xp = np.zeros((n, tiles_h * m + 2, tiles_w * m + 2, c), x.dtype)  # (N, tiles_h*m + 2, tiles_w*m + 2, C)
    xp[:, pad:pad + h, pad:pad + w] = x  # zeros around: the 'same' border and the ragged tiles' overhang
    d = np.lib.stride_tricks.sliding_window_view(xp, (alpha, alpha), axis=(1, 2))[:, ::m, ::m]  # (N, th, tw, C, a, a)
    bt = b_t.astype(x.dtype)
    v = bt @ d @ bt.T  # (N, tiles_h, tiles_w, C, alpha, alpha): V = B^T d B for every tile and channel
    t = n * tiles_h * tiles_w
    v = v.reshape(t, c, alpha * alpha).transpose(2, 0, 1)  # (alpha^2, T, C): point xi first
    u = np.einsum("ai,ijcf,bj->abcf", gm, kernel.astype(np.float64), gm)  # (alpha, alpha, C, F): U = G g G^T
    u = u.reshape(alpha * alpha, c, f).astype(x.dtype)  # (alpha^2, C, F)
    pd = products_dtype or x.dtype
    products = (v.astype(pd) @ u.astype(pd)).astype(x.dtype)  # (alpha^2, T, F): the matrix products M[xi] = V[xi] U[xi]
    products = products.transpose(1, 2, 0).reshape(t, f, alpha, alpha)  # (T, F, alpha, alpha)
    at = a_t.astype(x.dtype)
    y = at @ products @ at.T  # (T, F, m, m): Y = A^T M A per tile and filter
    y = y.reshape(n, tiles_h, tiles_w, f, m, m).transpose(0, 1, 4, 2, 5, 3).reshape(n, tiles_h * m, tiles_w * m, f)
    return y[:, :out_h, :out_w]  # (N, H_out, W_out, F): the ragged tiles' extra outputs dropped


x = rng.standard_normal((2, 7, 9, 3))  # (2, 7, 9, 3): float64, ragged tiles in both directions
kernel = rng.standard_normal((3, 3, 3, 4))  # (3, 3, 3, 4)
bias = rng.standard_normal(4)  # (4,)
reference = naive.conv2d(x, kernel, bias, padding="same")  # (2, 7, 9, 4): the loops, 9 multiply-adds per tap
results = {
    "NumPy above, F(2x2): 16 matrix products": winograd_layer(x, kernel, MATRICES[2]) + bias,
    "NumPy above, F(4x4): 36 matrix products": winograd_layer(x, kernel, MATRICES[4]) + bias,
    "conv2d_winograd_naive, tile=2 (one tile at a time)": conv2d_winograd_naive(x, kernel, bias, padding="same", tile=2),
    "conv2d_winograd_naive, tile=4 (one tile at a time)": conv2d_winograd_naive(x, kernel, bias, padding="same", tile=4),
    "scratchconv.conv2d(algorithm='winograd')": scratchconv.conv2d(x, kernel, bias, padding="same", algorithm="winograd"),
}
print(f"x {x.shape}, kernel {kernel.shape}, 'same': 2 images x 4x5 tiles of 2x2 = {2 * 4 * 5} tiles (F(2x2)), "
      f"2 x 2x3 = {2 * 2 * 3} tiles of 4x4 (F(4x4))")
print("max |result - naive.conv2d (direct loops)| (float64):")
for name, result in results.items():
    print(f"  {name:<52s} {max_abs_diff(result, reference):.1e}")
    assert max_abs_diff(result, reference) < 1e-12

# %% [markdown]
# And against Keras's `Conv2D` with the same weights, in float32:

# %%
tk = keras_or_none()
if tk is not None:
    tf, keras = tk
    layer = keras.layers.Conv2D(4, 3, padding="same")
    layer.build((None, 7, 9, 3))
    layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    x32 = x.astype(np.float32)
    ours = scratchconv.conv2d(x32, kernel.astype(np.float32), bias.astype(np.float32), padding="same", algorithm="winograd")
    diff, size = max_abs_diff(layer(x32), ours), float(np.abs(ours).max())
    print(f"max |Keras Conv2D - scratchconv.conv2d(algorithm='winograd')| = {diff:.1e}, outputs up to {size:.1f} (float32)")
    assert diff < 1e-5 * size

# %% [markdown]
# ## F(4×4, 3×3) and the choice of points
#
# Where do the matrices come from? F(m, 3) is the **Toom-Cook** method run backwards: evaluate
# the two polynomials at $\alpha - 1 = m + 1$ points $p_j$ (and at "infinity", their leading
# coefficient), multiply the values (the $\alpha$ products), and interpolate. For points
# $p_0, \dots, p_{\alpha-2}$ and $\infty$:
#
# * $A^\top[i, j] = p_j^{\,i}$ (column $\infty$: $(0, \dots, 0, 1)$),
# * $G[j, :] = (1, p_j, p_j^2) / \prod_{l \ne j} (p_j - p_l)$ (row $\infty$: $(0, 0, 1)$),
# * $B^\top[j, :]$ = the coefficients of $\prod_{l \ne j} (x - p_l)$ (row $\infty$: of $\prod_l (x - p_l)$).
#
# F(2, 3) is the points 0, 1, −1. Lavin & Gray's F(4, 3) takes 0, 1, −1, 2, −2; the
# construction gives exactly their published matrices:

# %%


def toom_cook(points, m, r=3):
    """B^T (alpha, alpha), G (alpha, r), A^T (m, alpha) of Winograd's F(m, r) from alpha - 1 points and infinity."""
    alpha = m + r - 1
    assert len(points) == alpha - 1
    b_t, gm, a_t = np.zeros((alpha, alpha)), np.zeros((alpha, r)), np.zeros((m, alpha))
    for j, p in enumerate(points):
        others = [q for q in points if q != p]
        a_t[:, j] = [p ** i for i in range(m)]
        gm[j] = [p ** k / np.prod([p - q for q in others]) for k in range(r)]
        b_t[j, : alpha - 1] = np.poly(others)[::-1]  # np.poly: the coefficients, highest power first
    a_t[m - 1, alpha - 1] = gm[alpha - 1, r - 1] = 1.0
    b_t[alpha - 1] = np.poly(points)[::-1]
    return b_t, gm, a_t


lavin = toom_cook([0, 1, -1, 2, -2], 4)
lavin_published = (  # Lavin & Gray 2016, F(4x4, 3x3)
    np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
              [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]),
    np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]),
    np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]),
)
for name, built, published in zip(("B^T", "G", "A^T"), lavin, lavin_published):
    assert np.allclose(built, published, rtol=0, atol=1e-15), name
print("Toom-Cook on the points 0, 1, -1, 2, -2 = Lavin & Gray's published F(4x4, 3x3) matrices:")
with np.printoptions(precision=4, suppress=True):
    for name, mat in zip(("B^T (6x6)", "G (6x3)", "A^T (4x6)"), lavin):
        print(f"{name}:\n{mat}")

# %% [markdown]
# scratchconv's `MATRICES[4]` uses other points. They can be read off its $A^\top$: column $j$
# is $(1, p_j, p_j^2, p_j^3)$ up to a factor. Scaling a point's row of $B^\top$, its row of $G$
# and its column of $A^\top$ by factors whose product is 1 changes nothing (scratchconv scales
# by powers of 2, exact in floating point, to make $B^\top$ and $A^\top$ integer):

# %%


def points_of(matrices):
    """The points p_j of Winograd matrices, read off A^T: p_j = A^T[1, j] / A^T[0, j] (the last column is infinity)."""
    a_t = matrices[2]
    return [float(a_t[1, j] / a_t[0, j]) for j in range(a_t.shape[1] - 1)]


def factors(matrices, built):
    """Per point: the factors a (A^T column) and b (B^T row) with matrices = Toom-Cook rescaled, G's row by 1/(a b).

    Asserts that matrices are built's rows and columns times these factors."""
    b_t, gm, a_t = matrices
    first = [np.flatnonzero(column)[0] for column in built[2].T]  # a nonzero entry of each A^T column
    a = np.array([a_t[i, j] / built[2][i, j] for j, i in enumerate(first)])
    b = np.array([b_t[j, np.flatnonzero(row)[0]] / row[np.flatnonzero(row)[0]] for j, row in enumerate(built[0])])
    assert np.allclose(a_t, built[2] * a[None, :], rtol=0, atol=1e-14)
    assert np.allclose(b_t, b[:, None] * built[0], rtol=0, atol=1e-14)
    assert np.allclose(gm, built[1] / (a * b)[:, None], rtol=0, atol=1e-15)
    return a, b


for tile in (2, 4):
    pts = points_of(MATRICES[tile])
    a, b = factors(MATRICES[tile], toom_cook(pts, tile))
    print(f"MATRICES[{tile}]: points {pts} and infinity; = Toom-Cook with A^T's columns x {a}, B^T's rows x {b}, "
          f"G's rows x {1 / (a * b)}")
    assert all(np.log2(abs(s)).is_integer() for s in np.concatenate([a, b]))  # powers of 2: exact

# %% [markdown]
# Both point sets are exact in exact arithmetic. In float32 they are not equally accurate.
# Measure it: a 3×3 'same' convolution of random normal data, 32×32 pixels, 128 channels in and
# out, the same algorithm (`winograd_layer` above) with either set of matrices, against the
# direct sum in float64; error = max |error| / max |reference|.

# %%
n_err = 4 if QUICK else 8
x_err = rng.standard_normal((n_err, 32, 32, 128)).astype(np.float32)  # (B, 32, 32, 128)
k_err = rng.standard_normal((3, 3, 128, 128)).astype(np.float32)  # (3, 3, 128, 128)
ref64 = scratchconv.conv2d(x_err.astype(np.float64), k_err.astype(np.float64), padding="same", algorithm="rows")
scale = float(np.abs(ref64).max())
errors = {}
candidates = {
    "F(4x4), Lavin's points 0, +-1, +-2 (winograd_layer)": lambda: winograd_layer(x_err, k_err, lavin),
    "F(4x4), points 0, +-1, 1/2, -2 (winograd_layer)": lambda: winograd_layer(x_err, k_err, MATRICES[4]),
    "F(4x4), scratchconv.conv2d(algorithm='winograd')": lambda: scratchconv.conv2d(x_err, k_err, padding="same",
                                                                                   algorithm="winograd"),
    "F(2x2), points 0, +-1 (winograd_layer)": lambda: winograd_layer(x_err, k_err, MATRICES[2]),
    "direct: scratchconv.conv2d(algorithm='rows')": lambda: scratchconv.conv2d(x_err, k_err, padding="same",
                                                                               algorithm="rows"),
}
print(f"float32 error, 3x3 'same', {n_err}x32x32x128 -> 128, max |y - y_float64| / max |y_float64|:")
for name, run in candidates.items():
    errors[name] = max_abs_diff(run(), ref64) / scale
    print(f"  {name:<55s} {errors[name]:.2e}")
err_lavin, err_ours = errors["F(4x4), Lavin's points 0, +-1, +-2 (winograd_layer)"], errors["F(4x4), points 0, +-1, 1/2, -2 (winograd_layer)"]
print(f"Lavin's points / scratchconv's points: {err_lavin / err_ours:.1f}x the error; scratchconv's tests allow 1e-5")
assert err_lavin > 1.5 * err_ours and err_ours < 1e-5
assert errors["F(4x4), scratchconv.conv2d(algorithm='winograd')"] < 1e-5

# %% [markdown]
# Where does the error come from? Most of it is made in the 36 products $M[\xi] = V[\xi] U[\xi]$
# (sums over 128 channels, each rounded at the size of its terms): compute everything in float64
# except those products, in float32, and compare.

# %%
x_err64 = x_err.astype(np.float64)  # (B, 32, 32, 128)
for name, mats in (("Lavin's points", lavin), ("points 0, +-1, 1/2, -2", MATRICES[4])):
    all32 = max_abs_diff(winograd_layer(x_err, k_err, mats), ref64) / scale
    only_products = max_abs_diff(winograd_layer(x_err64, k_err, mats, products_dtype=np.float32), ref64) / scale
    print(f"F(4x4), {name}: error with everything in float32 {all32:.2e}; with only the 36 products in float32 "
          f"{only_products:.2e}")
    assert only_products > 0.5 * all32

# %% [markdown]
# The inverse transform then combines those sums with the weights of $A^\top$ into outputs much
# smaller than the parts. A rough model: for random data, point $j$'s sum has a size proportional to
# $\lVert G[j, :]\rVert\, \lVert B^\top[j, :]\rVert$, so output row $i$ of a tile inherits an error
# proportional to
#
# $$ e_i = \sum_j |A^\top[i, j]|\; \lVert G[j, :]\rVert_2\; \lVert B^\top[j, :]\rVert_2 $$
#
# (unchanged by the rescaling above), and output $(i, k)$ of a 4×4 tile to $e_i e_k$. Lavin's
# points give the last output row and column weights 1, −1, 8, −8: $e_3$ is large, and the
# corner $(3, 3)$ of every tile gets the worst of it. The points ½ and −2 (Barabasz et al. 2020)
# spread it evenly over both ends. The model against the measured RMS error at each of the 16
# positions of a tile:

# %%
position_maps = {}
for name, mats in (("Lavin's points 0, +-1, +-2", lavin), ("scratchconv's points 0, +-1, 1/2, -2", MATRICES[4])):
    err = winograd_layer(x_err, k_err, mats).astype(np.float64) - ref64  # (B, 32, 32, 128)
    by_position = err.reshape(n_err, 8, 4, 8, 4, 128).transpose(2, 4, 0, 1, 3, 5).reshape(4, 4, -1)  # (4, 4, ...)
    measured = np.sqrt((by_position ** 2).mean(axis=2)) / np.sqrt((ref64 ** 2).mean())  # (4, 4): relative RMS error
    b_t, gm, a_t = mats
    e = (np.abs(a_t) * (np.linalg.norm(gm, axis=1) * np.linalg.norm(b_t, axis=1))).sum(axis=1)  # (4,)
    model = np.outer(e, e)  # (4, 4)
    corr = np.corrcoef(measured.ravel(), model.ravel())[0, 1]
    position_maps[name] = (measured, model, corr)
    with np.printoptions(precision=2, suppress=True):
        print(f"{name}: model e_i = {e};  measured relative RMS error x 1e7 at the 16 positions of a tile:\n"
              f"{measured * 1e7}\n  correlation with the model's e_i e_k: {corr:.3f}")
    assert corr > 0.9
(m_lavin, model_lavin, _), (m_ours, model_ours, _) = position_maps.values()
assert model_lavin.max() > 2 * model_ours.max() and m_lavin.max() > 1.5 * m_ours.max()

fig, axes = plt.subplots(1, 4, figsize=(15, 3.8))
lim = max(m_lavin.max(), m_ours.max()) * 1e7
for ax, (name, (measured, model, corr)), k in zip(axes[::2], position_maps.items(), range(2)):
    ax.imshow(measured * 1e7, cmap="magma", vmin=0, vmax=lim)
    for (i, j), value in np.ndenumerate(measured * 1e7):
        ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=8, color="white" if value < 0.6 * lim else "black")
    ax.set_title(f"{name}\nmeasured RMS error x 1e7 per tile position", fontsize=9)
    axes[2 * k + 1].imshow(model, cmap="magma", vmin=0, vmax=max(model_lavin.max(), model_ours.max()))
    for (i, j), value in np.ndenumerate(model):
        axes[2 * k + 1].text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=8,
                             color="white" if value < 0.6 * model_lavin.max() else "black")
    axes[2 * k + 1].set_title(f"model e_i e_k (correlation {corr:.2f})", fontsize=9)
for ax in axes:
    ax.set_xticks(range(4))
    ax.set_yticks(range(4))
fig.suptitle(f"F(4x4, 3x3) in float32, {n_err}x32x32x128 -> 128: where in the 4x4 output tile the error lands", fontsize=11)
fig.tight_layout()
save(fig, "08_float32_error.png")

# %% [markdown]
# ## Measured: rows, im2col, Winograd at the article's layers
#
# Fewer multiplications is not automatically faster. Winograd pays with memory passes: $V$ holds
# 36 values per 16 output pixels and input channel (2.25× the input, more with ragged tiles),
# written by the input transform and read by the products; $M$ the same per filter, read by the
# inverse transform. And the 36 products are $(T \times C) \cdot (C \times F)$ with $C = F$ =
# 32 … 128, narrower than the direct methods' single products (the row method's
# $(\cdot \times 3C) \cdot (3C \times 3F)$, im2col's $(\cdot \times 9C) \cdot (9C \times F)$), and BLAS
# runs narrow products slower.
#
# The three algorithms forced by `algorithm=`, forward (`conv2d`) and backward
# (`conv2d_backward`: dx, dkernel, dbias), float32, 3×3 'same', the three standard-convolution
# shapes of the article's network. The median of the runs (and the fastest: the run least
# disturbed by other programs), the candidates taking turns round after round (a busy moment
# slows them all, not one). GFLOP/s counts the **direct** method's
# arithmetic ($2 \cdot N H W \cdot 9 C F$ forward, twice that backward) for every algorithm: the
# useful work per second. These are this machine's numbers, from this run: nothing is asserted
# about them.

# %%
batch, rounds = (4, 5) if QUICK else (32, 30)
shapes = [(28, 32, 32), (14, 64, 64), (7, 128, 128)]  # (H = W, C_in, F)
algorithms = ("rows", "im2col", "winograd")
machine = f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else f"{os.cpu_count()} CPUs"
print(f"float32, 3x3 'same', batch {batch}, median (and fastest) of {rounds} interleaved runs after a warm-up; {machine}"
      + (" (QUICK mode: small batch, few runs: a smoke test only)" if QUICK else ""))


def timings_ms(fns, rounds=rounds):
    """({name: median}, {name: fastest}) of `rounds` runs in ms for {name: function}, after a warm-up of each,
    taking turns. The median is the typical run; the fastest, the one least disturbed by other programs."""
    for fn in fns.values():
        fn()  # warm-up (compiles on first use)
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return ({name: 1e3 * float(np.median(t)) for name, t in times.items()},
            {name: 1e3 * float(np.min(t)) for name, t in times.items()})


measured = []
for hw, c, f in shapes:
    x = rng.standard_normal((batch, hw, hw, c)).astype(np.float32)  # (B, H, W, C)
    k = (rng.standard_normal((3, 3, c, f)) / np.sqrt(9 * c)).astype(np.float32)  # (3, 3, C, F)
    b = rng.standard_normal(f).astype(np.float32)  # (F,)
    dy = rng.standard_normal((batch, hw, hw, f)).astype(np.float32)  # (B, H, W, F)
    # every algorithm computes the same numbers (checked before timing them)
    y_rows = scratchconv.conv2d(x, k, b, padding="same", algorithm="rows")
    grads_rows = scratchconv.conv2d_backward(dy, x, k, b, padding="same", algorithm="rows")
    for alg in algorithms[1:]:
        assert max_abs_diff(scratchconv.conv2d(x, k, b, padding="same", algorithm=alg), y_rows) < 1e-4
        for g_alg, g_rows in zip(scratchconv.conv2d_backward(dy, x, k, b, padding="same", algorithm=alg), grads_rows):
            assert max_abs_diff(g_alg, g_rows) < 1e-5 * max(1.0, float(np.abs(g_rows).max()))
    fns = {}
    for alg in algorithms:
        fns["forward", alg] = (lambda a: lambda: scratchconv.conv2d(x, k, b, padding="same", algorithm=a))(alg)
        fns["backward", alg] = (lambda a: lambda: scratchconv.conv2d_backward(dy, x, k, b, padding="same", algorithm=a))(alg)
    t, t_min = timings_ms(fns)
    g_geo = check_conv2d_args(x, k, b, 1, "same", 1, 1)[4]  # the window geometry conv2d works out
    auto = _choose(k, 1, g_geo, "auto", x, dy)
    measured.append(dict(shape=(hw, c, f), t=t, t_min=t_min, auto=auto, x=x, k=k, b=b, g=g_geo))
    flops = 2 * batch * hw * hw * 9 * c * f  # the direct method's forward FLOPs
    print(f"\n{hw}x{hw}x{c} -> {f}: direct forward {flops / 1e9:.3f} GFLOP, backward {2 * flops / 1e9:.3f} GFLOP")
    for alg in algorithms:
        tf_, tb = t["forward", alg], t["backward", alg]
        print(f"  {alg:<9s} forward {tf_:6.2f} ms (fastest {t_min['forward', alg]:6.2f}; {flops / tf_ / 1e6:5.1f} GFLOP/s)"
              f"   backward {tb:6.2f} ms (fastest {t_min['backward', alg]:6.2f}; {2 * flops / tb / 1e6:5.1f} GFLOP/s)"
              f"   forward+backward {tf_ + tb:6.2f} ms")
    fastest_f = min(algorithms, key=lambda a: t["forward", a])
    fastest_fb = min(algorithms, key=lambda a: t["forward", a] + t["backward", a])
    print(f"  fastest here: forward {fastest_f}, forward+backward {fastest_fb};  'auto' picks {auto}"
          f" -> {'matches' if auto == fastest_fb else 'does NOT match'} the fastest forward+backward in this run")

# %% [markdown]
# ### What Winograd's forward spends its time on
#
# `conv2d(..., algorithm="winograd")` is four steps (`scratchconv/kernels/standard_winograd.py`):
# the filter transform $U$, the input transform $V$ (`_gather_tiles`), the 36 products (one
# batched `np.matmul`) and the inverse transform with the bias (`_output_tiles`). Here they run on
# the whole batch, one step after the other, as the package's step-by-step path does (used where
# NumPy's OpenBLAS cannot be called from inside a kernel). Its fused kernels run the same four
# steps a few tile rows at a time on each thread, so that V and M stay in the core's cache and
# each product runs on one thread: that is why `conv2d` above can take less than the steps' sum.
# Check that they give `conv2d`'s result, and time each alone and the four back to back.
# `conv2d`'s own time (above) also holds its argument checks, a check that x is finite
# (Winograd's sums would turn an Inf into NaN) and the allocation of y. Bytes: what each step
# must read and write at least (float32), and the rate that implies.

# %%
print(f"Winograd forward step by step, batch {batch}, median (and fastest) of {rounds} interleaved runs:")
for row in measured:
    (hw, c, f), x, k, b, g_geo = row["shape"], row["x"], row["k"], row["b"], row["g"]
    m = winograd_tile(k, 1, g_geo)
    tiles_h, tiles_w, alpha = tile_grid(g_geo, m)
    n_tiles = batch * tiles_h * tiles_w
    v = np.empty((alpha * alpha, n_tiles, c), np.float32)  # (alpha^2, T, C)
    mm = np.empty((alpha * alpha, n_tiles, f), np.float32)  # (alpha^2, T, F)
    y = np.empty((batch, hw, hw, f), np.float32)  # (B, H, W, F)
    assert len(tile_row_chunks(g_geo, m, max(c, f), x.itemsize)[0]) == 1  # the step-by-step path: one chunk too
    u = transformed_kernel(k, 1, m)  # (alpha^2, 1, C, F)
    steps = {
        "filter transform U": lambda: transformed_kernel(k, 1, m),
        "input transform V": lambda: _gather_tiles(v, x, m, g_geo.pad_top, g_geo.pad_left, tiles_h, tiles_w, 0, False),
        f"{alpha * alpha} products V@U": lambda: np.matmul(v, u[:, 0], out=mm),
        "inverse transform + bias": lambda: _output_tiles(y, mm, b, m, tiles_h, tiles_w, 0),
    }
    steps_in_a_row = list(steps.values())
    t, t_min = timings_ms(dict(steps, back_to_back=lambda: [step() for step in steps_in_a_row]))
    back_to_back, back_to_back_min = t.pop("back_to_back"), t_min.pop("back_to_back")
    assert max_abs_diff(y, scratchconv.conv2d(x, k, b, padding="same", algorithm="winograd")) < 1e-5
    bytes_moved = {
        "filter transform U": 4 * (9 + alpha * alpha) * c * f,
        "input transform V": 4 * (x.size + v.size),
        f"{alpha * alpha} products V@U": 4 * (v.size + u.size + mm.size),
        "inverse transform + bias": 4 * (mm.size + y.size),
    }
    total = sum(t.values())
    transforms = total - t[f"{alpha * alpha} products V@U"]
    direct_macs, wino_macs = batch * hw * hw * 9 * c * f, alpha * alpha * n_tiles * c * f
    print(f"\n{hw}x{hw}x{c} -> {f}: F({m}x{m}), {n_tiles} tiles; multiply-adds: direct {direct_macs / 1e6:.1f} M, "
          f"products {wino_macs / 1e6:.1f} M ({direct_macs / wino_macs:.2f}x fewer"
          + (", ragged tiles included" if hw % m else "") + f"); V is {v.size / x.size:.2f}x the input")
    for name, ms_ in t.items():
        rate = f"{bytes_moved[name] / ms_ / 1e6:6.2f} GB/s"
        extra = f", {2 * wino_macs / ms_ / 1e6:5.1f} GFLOP/s" if "products" in name else ""
        print(f"  {name:<26s} {ms_:7.2f} ms ({t_min[name]:6.2f})  {bytes_moved[name] / 1e6:6.2f} MB  {rate}{extra}")
    print(f"  sum of the steps timed one by one {total:.2f} ms ({sum(t_min.values()):.2f}); the four run back to back "
          f"{back_to_back:.2f} ms ({back_to_back_min:.2f}); conv2d(algorithm='winograd') above {row['t']['forward', 'winograd']:.2f} ms")
    print(f"  the transforms' share {transforms / total:.0%}; the direct method's arithmetic / the sum = "
          f"{2 * direct_macs / total / 1e6:.1f} 'useful' GFLOP/s")
if hasattr(os, "getloadavg"):
    print(f"\nload average after the timings: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other programs running "
          "at the same time slow these numbers, the more so the higher it is)")

# %%
labels = [f"{hw}x{hw}x{c}\n->{f}" for hw, c, f in shapes]
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
width = 0.27
for i, alg in enumerate(algorithms):
    for ax, phase in zip(axes, ("forward", "backward")):
        ax.bar(np.arange(len(shapes)) + (i - 1) * width, [r["t"][phase, alg] for r in measured], width, label=alg)
for ax, phase in zip(axes, ("forward", "backward")):
    ax.set_xticks(np.arange(len(shapes)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel(f"ms per batch of {batch} (median)")
    ax.set_title(f"{phase}; 'auto' picks: " + ", ".join(r["auto"] for r in measured), fontsize=10)
    ax.legend(fontsize=8)
fig.suptitle(f"scratchconv.conv2d / conv2d_backward by algorithm, float32 3x3 'same' ({machine})"
             + (" (QUICK mode: smoke test only)" if QUICK else ""), fontsize=10)
fig.tight_layout()
save(fig, "08_time_by_algorithm.png")

# %% [markdown]
# ## What to remember
#
# * F(2, 3): 2 outputs of a 3-tap filter from 4 products instead of 6; as matrices
#   $y = A^\top[(Gg) \odot (B^\top d)]$, and nested, $Y = A^\top[(G g G^\top) \odot (B^\top d B)]A$:
#   16 products for a 2×2 tile instead of 36; F(4×4, 3×3): 36 instead of 144.
# * The matrices come from Toom-Cook interpolation at chosen points. All choices are exact in
#   exact arithmetic; in float32 they are not: Lavin's 0, ±1, ±2 put a large weight on one edge of
#   the tile, and 0, ±1, ½, −2 keep F(4×4)'s error under the tests' 1e-5 at 128 channels.
# * A layer is $\alpha^2$ matrix products $V[\xi] U[\xi]$ between an input transform and an inverse
#   transform. The products shrink by 4× (F(4×4)), but the transforms move 2.25× the input and
#   the output through memory, and the products are narrow: run step by step over the batch, it
#   is slower than the row method at 32 channels. Run a chunk of tiles at a time per thread, from
#   input to output (`scratchconv.kernels.standard_winograd_fused`), V and M never leave the
#   cache and it wins from 16 + 32 channels: read the timings above, and that module for the
#   measurements behind `algorithm="auto"`.
