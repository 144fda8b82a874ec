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
# # Tutorial 9 — MobileNet: the network that made depthwise separable convolution famous
#
# The article counted its own network's parameters with `Conv2D` everywhere and with
# `SeparableConv2D`. MobileNet v1 (Howard et al., 2017, "MobileNets: Efficient Convolutional
# Neural Networks for Mobile Vision Applications") is the same idea taken all the way: one
# standard 3×3 convolution, then 13 depthwise separable blocks
#
#     DepthwiseConv2D(3×3, stride s) → BatchNormalization → ReLU(6)
#     → Conv2D(1×1, F filters)       → BatchNormalization → ReLU(6)
#
# Here we count its parameters and multiply-adds block by block, standard vs separable, as the
# article did for its network; check the totals against the paper's Table 4 and against Keras's
# `keras.applications.MobileNet`; and load Keras's MobileNet into scratchconv with `from_keras`,
# where it predicts the same numbers.

# %%
import numpy as np

import _common  # tutorials/_common.py: paths, figure saving, quick mode, optional TensorFlow
from _common import plt, save, keras_or_none

import scratchconv
from scratchconv import nn
from scratchconv.nn.networks import MOBILENET_BLOCKS

# %% [markdown]
# ## Block by block
#
# For a block with C input channels, F output channels and an output of H×W pixels (MobileNet's
# convolutions have no bias: batch normalisation follows each one):
#
# | | parameters | multiply-adds per image |
# |---|---|---|
# | standard 3×3 convolution | $9 C F$ | $H W \cdot 9 C F$ |
# | depthwise 3×3 + pointwise 1×1 | $9 C + C F$ | $H W \cdot (9 C + C F)$ |
#
# the same ratio $\tfrac{1}{F} + \tfrac{1}{9}$ as the article's worked example (every weight is used
# once per output pixel). We walk MobileNet's table of blocks (``MOBILENET_BLOCKS``: filters and
# stride of each) at the paper's 224×224 input, width multiplier α = 1.

# %%
def block_table(size=224, alpha=1.0, classes=1000):
    """[(name, C, F, H_out, params std, params sep, MACs std, MACs sep)] for MobileNet's layers."""
    rows, c, h = [], 3, size
    first = int(32 * alpha)
    h = -(-h // 2)  # the first convolution: 3x3, stride 2, 'same'
    rows.append(("conv1 (standard)", c, first, h, 9 * c * first, 9 * c * first, h * h * 9 * c * first,
                 h * h * 9 * c * first))
    c = first
    for block, (filters, stride) in enumerate(MOBILENET_BLOCKS, start=1):
        f = int(filters * alpha)
        h = h // stride if stride == 2 else h  # stride 2: zero-pad bottom/right by 1, then 'valid'
        std, sep = 9 * c * f, 9 * c + c * f
        rows.append((f"block {block:2d} (stride {stride})", c, f, h, std, sep, h * h * std, h * h * sep))
        c = f
    rows.append(("classifier (1x1 conv)", c, classes, 1, c * classes + classes, c * classes + classes,
                 c * classes, c * classes))
    return rows


rows = block_table()
print("MobileNet v1, 224x224x3, alpha 1.0: parameters and multiply-adds per image, each block as a standard")
print("3x3 convolution vs depthwise 3x3 + pointwise 1x1 (without batch normalisation's 4 numbers per channel):")
print(f"{'layer':<24}{'C -> F':>12}{'out':>6}{'params std':>12}{'params sep':>12}{'MACs std':>15}{'MACs sep':>14}"
      f"{'ratio':>7}")
for name, c, f, h, p_std, p_sep, m_std, m_sep in rows:
    print(f"{name:<24}{f'{c} -> {f}':>12}{f'{h}x{h}':>6}{p_std:>12,}{p_sep:>12,}{m_std:>15,}{m_sep:>14,}"
          f"{m_sep / m_std:>7.3f}")
totals = np.sum([r[4:] for r in rows], axis=0)
print(f"{'total':<42}{totals[0]:>12,}{totals[1]:>12,}{totals[2]:>15,}{totals[3]:>14,}{totals[3] / totals[2]:>7.3f}")

# %% [markdown]
# The paper's Table 4 gives, for MobileNet-224 (α = 1): **569 million** multiply-adds and **4.2
# million** parameters with depthwise separable blocks, **4,866 million** and **29.3 million** with
# standard convolutions. Our count from the block table reproduces all four (the paper rounds):

# %%
print(f"separable: {totals[3] / 1e6:,.0f} million multiply-adds, {totals[1] / 1e6:.1f} million parameters")
print(f"standard:  {totals[2] / 1e6:,.0f} million multiply-adds, {totals[0] / 1e6:.1f} million parameters")
assert round(totals[3] / 1e6) in (568, 569, 570) and round(totals[1] / 1e5) == 42
assert abs(totals[2] / 1e6 - 4866) < 5 and round(totals[0] / 1e5) == 293

# %% [markdown]
# Where the work is: in the separable network the 1×1 (pointwise) convolutions do almost all the
# multiply-adds (the paper: 95%) and hold most of the parameters; the depthwise 3×3 convolutions,
# which do the spatial filtering, are cheap.

# %%
depthwise_macs = sum(r[3] * r[3] * 9 * r[1] for r in rows[1:-1])
pointwise_macs = sum(r[3] * r[3] * r[1] * r[2] for r in rows[1:-1])
print(f"share of the separable network's multiply-adds: pointwise 1x1 {pointwise_macs / totals[3]:.1%}, "
      f"depthwise 3x3 {depthwise_macs / totals[3]:.1%}, first conv and classifier the rest")
assert 0.93 < pointwise_macs / totals[3] < 0.96

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
labels = [r[0].split(" (")[0].replace("block ", "b") for r in rows]
x = np.arange(len(rows))
for ax, (std_col, sep_col, title) in zip(axes, ((4, 5, "parameters"), (6, 7, "multiply-adds per image"))):
    ax.bar(x - 0.2, [r[std_col] for r in rows], 0.4, label="standard 3x3")
    ax.bar(x + 0.2, [r[sep_col] for r in rows], 0.4, label="depthwise + pointwise")
    ax.set_yscale("log")
    ax.set_xticks(x, labels, rotation=90, fontsize=7)
    ax.set_title(f"MobileNet-224, {title}")
    ax.legend(fontsize=8)
fig.tight_layout()
save(fig, "09_mobilenet_blocks.png")

# %% [markdown]
# ## The same network in scratchconv, and Keras's
#
# `scratchconv.nn.mobilenet_model` builds MobileNet from scratchconv's layers, with the names and
# shapes Keras's `applications.MobileNet` gives them. Its parameter count adds batch
# normalisation's four numbers per channel (γ, β and the moving mean and variance) to the table's:

# %%
size, alpha = 96, 0.25
model = nn.mobilenet_model((size, size, 3), alpha=alpha, classes=10, seed=0)
bn_numbers = sum(w.size for layer in model.layers if type(layer).__name__ == "BatchNormalization"
                 for w in layer.weights)
table = block_table(size, alpha, classes=10)
print(f"scratchconv MobileNet {size}x{size}, alpha {alpha}: {model.count_params():,} parameters = "
      f"{sum(r[5] for r in table):,} convolution weights and classifier + {bn_numbers:,} batch-normalisation numbers")
assert model.count_params() == sum(r[5] for r in table) + bn_numbers

tk = keras_or_none()
if tk is not None:
    tf, keras = tk
    keras.utils.set_random_seed(0)
    keras_model = keras.applications.MobileNet(weights=None, input_shape=(size, size, 3), alpha=alpha, classes=10)
    assert keras_model.count_params() == model.count_params()
    images = np.random.default_rng(0).uniform(-1, 1, (4, size, size, 3)).astype("float32")
    fresh = keras_model.predict(images, verbose=0)
    print(f"a freshly built MobileNet predicts {fresh.min():.3f} to {fresh.max():.3f} for every class and image")
    # Untrained, every batch normalisation holds its initial moving statistics (mean 0, variance 1)
    # and the activations die out on the way (ReLU(6) of ever smaller values): the logits are the
    # last bias, 0, and the probabilities exactly 1/10. Comparing those would prove nothing, so each
    # BatchNormalization first gets statistics as a trained network's would differ from the defaults.
    rng = np.random.default_rng(1)
    for layer in keras_model.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 2.0, variance.shape)])
    expected = keras_model.predict(images, verbose=0)
    assert expected.std() > 0.005  # no longer uniform
    ours = nn.from_keras(keras_model)  # Keras's own network, its weights, in scratchconv's layers
    difference = np.abs(ours.predict(images, verbose=0) - expected).max()
    print(f"Keras's MobileNet: {keras_model.count_params():,} parameters, equal; with random batch-norm "
          f"statistics it predicts {expected.min():.3f} to {expected.max():.3f}; from_keras's predictions on 4 "
          f"images differ from Keras's by at most {difference:.1e} (probabilities)")
    assert difference < 2e-5
