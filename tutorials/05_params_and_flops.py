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
# # Tutorial 5 — Parameters, FLOPs and time: the article's Fashion-MNIST network
#
# The article's network for Fashion-MNIST starts with one standard convolution and then
# uses separable convolutions throughout; "the parameters went from 430 thousand to 180
# thousand". Here we count them layer by layer (standard vs separable), count the
# **multiply-adds** each layer does per image, and then **measure** how long each layer
# takes — to see that fewer FLOPs is not the same as faster.
#
# With `SCRATCHCONV_QUICK=1` the timing uses a tiny batch and few repeats (the numbers are
# then only a smoke test).

# %%
import os

import time

import numpy as np

import _common  # tutorials/_common.py: paths, figure saving, quick mode, optional TensorFlow
from _common import QUICK, plt, save, keras_or_none

import scratchconv
from scratchconv import params

# %% [markdown]
# ## The network
#
# Conv2D(32) → SeparableConv2D(32) → MaxPool → SeparableConv2D(64) ×2 → MaxPool →
# SeparableConv2D(128) ×2 → MaxPool → Flatten → Dense(128) → Dense(10); every convolution
# 3×3, 'same', SELU. The "standard" version swaps every SeparableConv2D for a Conv2D. The
# tables come from `scratchconv.params`, which counts each layer with the formulas of
# tutorial 1 (with biases, as Keras counts):
#
# $$ N_\text{std} = k^2 C F + F, \qquad N_\text{sep} = k^2 C + C F + F $$

# %%
rows_std = params.fashion_mnist_table("standard")
rows_sep = params.fashion_mnist_table("separable")
print("Parameters per layer (weights + biases, as Keras counts), standard vs separable network; "
      "ratio = separable / standard:")
print(params.format_comparison(rows_std, rows_sep))
total_std, total_sep = params.total_params(rows_std), params.total_params(rows_sep)
assert (total_std, total_sep) == (435_306, 184_234)  # the article's "43万" and "18万"

# %% [markdown]
# Keras agrees, layer by layer (this builds both models in Keras and asks `count_params()`):

# %%
tk = keras_or_none()
if tk is not None:
    tf, keras = tk

    def keras_model(kind):
        model = keras.Sequential([keras.Input((28, 28, 1))])
        for layer, opts in params.fashion_mnist_layers(kind):
            model.add(getattr(keras.layers, layer)(**opts))
        return model

    for kind, rows in (("standard", rows_std), ("separable", rows_sep)):
        model = keras_model(kind)
        keras_counts = [layer.count_params() for layer in model.layers]
        assert keras_counts == [r.params for r in rows], (kind, keras_counts)
        print(f"Keras {kind:9s}: {model.count_params():,} parameters, every layer equal to scratchconv.params")
    assert keras_model("standard").count_params() == total_std and keras_model("separable").count_params() == total_sep

# %% [markdown]
# ## Multiply-adds per image
#
# A layer's cost is counted in multiply-adds (MACs; 1 MAC = 2 FLOPs). With 'same' padding and
# stride 1 the output is $H \times W$ and (biases and activations are negligible and left out):
#
# | layer | MACs per image |
# |---|---|
# | Conv2D | $H W \cdot k^2 C F$ |
# | SeparableConv2D | $H W \cdot k^2 C$ (depthwise) $+\; H W \cdot C F$ (pointwise) |
# | Dense | $n_\text{in} \cdot n_\text{out}$ |
# | MaxPool, Flatten | 0 (comparisons and copies only) |
#
# So the separable/standard ratio of MACs is the same $\tfrac{1}{F} + \tfrac{1}{k^2}$ as for the
# weights: in a convolution **every weight is used once per output pixel**. That gives an
# independent way to count: (weights without biases) × (output pixels). Both ways agree:

# %%
def macs_per_image(rows, input_shape=(28, 28, 1), k=3):
    """[(layer name, depthwise MACs, other MACs)] per layer, from the table's output shapes."""
    out, shape = [], input_shape
    for r in rows:
        if r.layer == "Conv2D":
            h, w, f = r.output_shape[1:]
            out.append((r.name, 0, h * w * k * k * shape[2] * f))
        elif r.layer == "SeparableConv2D":
            h, w, f = r.output_shape[1:]
            out.append((r.name, h * w * k * k * shape[2], h * w * shape[2] * f))
        elif r.layer == "Dense":
            out.append((r.name, 0, shape[0] * r.output_shape[1]))
        else:
            out.append((r.name, 0, 0))
        shape = r.output_shape[1:]
    return out


macs_std, macs_sep = macs_per_image(rows_std), macs_per_image(rows_sep)
print("Parameters and multiply-adds (MACs) per image, per layer; ratio = MACs separable / MACs standard:")
print(f"{'layer (standard / separable)':<42}{'params std':>11}{'params sep':>11}{'MACs std':>13}{'MACs sep':>13}{'ratio':>7}")
for rs, rp, ms, mp in zip(rows_std, rows_sep, macs_std, macs_sep):
    n_std, n_sep = ms[1] + ms[2], mp[1] + mp[2]
    ratio = f"{n_sep / n_std:.3f}" if n_std else ""
    print(f"{rs.name + ' / ' + rp.name:<42}{rs.params:>11,}{rp.params:>11,}{n_std:>13,}{n_sep:>13,}{ratio:>7}")
    # the independent count: every weight (not bias) once per output pixel
    for r, macs in ((rs, n_std), (rp, n_sep)):
        if r.layer in ("Conv2D", "SeparableConv2D"):
            bias = r.output_shape[3]
            assert macs == (r.params - bias) * r.output_shape[1] * r.output_shape[2], r.name
        elif r.layer == "Dense":
            assert macs == r.params - r.output_shape[1], r.name
total_macs_std = sum(m[1] + m[2] for m in macs_std)
total_macs_sep = sum(m[1] + m[2] for m in macs_sep)
print(f"{'total':<42}{total_std:>11,}{total_sep:>11,}{total_macs_std:>13,}{total_macs_sep:>13,}{total_macs_sep / total_macs_std:>7.3f}")

# %% [markdown]
# Two things stand out. The separable network does a fraction of the standard one's
# multiply-adds (the ratio is in the last column). And in the separable network most
# *parameters* sit in the first Dense layer (1152 × 128 + 128 = 147,584 of 184,234), while most
# *multiply-adds* sit in the convolutions at 28×28 and 14×14 — parameters and compute live in
# different places.

# %%
dense_share = rows_sep[-2].params / total_sep
print(f"Dense(128) holds {dense_share:.0%} of the separable network's parameters "
      f"but does {macs_sep[-2][2] / total_macs_sep:.1%} of its multiply-adds.")
assert rows_sep[-2].params == 1152 * 128 + 128 and dense_share > 0.5

def short_label(std, sep):
    """'Conv|Sep\n28x28x32': the two layer types (abbreviated) and the output shape."""
    short = {"Conv2D": "Conv", "SeparableConv2D": "Sep", "Dense": "Dense"}
    kinds = short[std.layer] if std.layer == sep.layer else f"{short[std.layer]}|{short[sep.layer]}"
    return kinds + "\n" + "x".join(str(v) for v in std.output_shape[1:])


keep = [i for i, r in enumerate(rows_sep) if r.params > 0]
fig, axes = plt.subplots(1, 2, figsize=(13, 4.4))
xpos = np.arange(len(keep))
for ax, values, title, unit in (
    (axes[0], ([rows_std[i].params for i in keep], [rows_sep[i].params for i in keep]),
     f"parameters: standard {total_std:,} vs separable {total_sep:,}", "parameters"),
    (axes[1], ([macs_std[i][1] + macs_std[i][2] for i in keep], [macs_sep[i][1] + macs_sep[i][2] for i in keep]),
     f"multiply-adds per image: {total_macs_std / 1e6:.1f} M vs {total_macs_sep / 1e6:.1f} M", "multiply-adds per image"),
):
    ax.bar(xpos - 0.2, values[0], 0.4, label="standard (Conv2D everywhere)", color="tab:blue")
    ax.bar(xpos + 0.2, values[1], 0.4, label="separable (the article)", color="tab:orange")
    ax.set_xticks(xpos)
    ax.set_xticklabels([short_label(rows_std[i], rows_sep[i]) for i in keep], fontsize=8)
    ax.set_ylabel(unit)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_ylim(0, 1.2 * max(max(values[0]), max(values[1])))
    ax.ticklabel_format(axis="y", style="plain")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))
fig.suptitle("The article's Fashion-MNIST network, layer by layer (layer types standard|separable, output shape)", fontsize=11)
fig.tight_layout()
save(fig, "05_params_flops.png")

# %% [markdown]
# ## Measured time per layer
#
# Now the five layers that differ, one batch each, forward pass only: the standard
# convolution (`scratchconv.conv2d`), the separable one (`scratchconv.separable_conv2d`) and
# its two halves (`depthwise_conv2d`, `pointwise_conv2d`), and — when TensorFlow is
# installed — Keras's `Conv2D` and `SeparableConv2D` (under `tf.function`). Each time is the
# fastest of several runs after a warm-up (which also pays Numba's compile time), the
# candidates taking turns: on a busy machine the fastest run is the one least disturbed by
# other programs. Even so, read the numbers as orders of magnitude and rerun on a quiet
# machine before drawing conclusions; `scratchconv bench` measures every kernel carefully.

# %%
batch, repeats = (2, 3) if QUICK else (32, 25)
layer_shapes = [(r.output_shape[1], prev.output_shape[3], r.output_shape[3])  # (H = W, C_in, F)
                for prev, r in zip(rows_sep, rows_sep[1:]) if r.layer == "SeparableConv2D"]
machine = f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else f"{os.cpu_count()} CPUs"
print(f"Forward-pass time per call in milliseconds (float32, 'same', 3x3), batch {batch}, fastest of {repeats} runs "
      f"after a warm-up; layers (H=W, C_in, F): {layer_shapes}; {machine}")


def best_ms(fns, repeats=repeats):
    """{name: fastest of `repeats` runs in ms} for {name: function}, after a warm-up of each.

    The functions take turns, round after round, so that a busy moment on the machine slows
    all of them rather than one; the fastest run is the one least disturbed by other programs.
    """
    for fn in fns.values():
        fn()  # warm-up (compiles on first use)
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: 1e3 * min(t) for name, t in times.items()}


rng = np.random.default_rng(5)
timings = []
for hw, c, f in layer_shapes:
    x = rng.standard_normal((batch, hw, hw, c)).astype(np.float32)  # (B, H, W, C)
    k_std = rng.standard_normal((3, 3, c, f)).astype(np.float32)  # (3, 3, C, F)
    k_dw = rng.standard_normal((3, 3, c, 1)).astype(np.float32)  # (3, 3, C, 1)
    k_pw = rng.standard_normal((1, 1, c, f)).astype(np.float32)  # (1, 1, C, F)
    bias = np.zeros(f, np.float32)  # (F,)
    z = scratchconv.depthwise_conv2d(x, k_dw, padding="same")  # (B, H, W, C)
    fns = {
        "ours standard": lambda: scratchconv.conv2d(x, k_std, bias, padding="same"),
        "ours separable": lambda: scratchconv.separable_conv2d(x, k_dw, k_pw, bias, padding="same"),
        "ours depthwise": lambda: scratchconv.depthwise_conv2d(x, k_dw, padding="same"),
        "ours pointwise": lambda: scratchconv.pointwise_conv2d(z, k_pw, bias),
    }
    if tk is not None:
        xt = tf.constant(x)
        for name, layer in (("Keras standard", keras.layers.Conv2D(f, 3, padding="same")),
                            ("Keras separable", keras.layers.SeparableConv2D(f, 3, padding="same"))):
            layer.build((None, hw, hw, c))
            fns[name] = (lambda call: lambda: call(xt).numpy())(tf.function(layer))
    t = best_ms(fns)
    macs_std_layer = batch * hw * hw * 9 * c * f
    macs_dw_layer, macs_pw_layer = batch * hw * hw * 9 * c, batch * hw * hw * c * f
    timings.append(dict(shape=(hw, c, f), t=t, macs_std=macs_std_layer, macs_dw=macs_dw_layer, macs_pw=macs_pw_layer))
    print(f"layer {hw:2d}x{hw:<2d} {c:3d}->{f:<3d}: " + "  ".join(f"{k} {v:7.2f} ms" for k, v in t.items()))

# %% [markdown]
# ## FLOPs vs time
#
# For each layer: how many times fewer multiply-adds the separable layer does
# ($\text{MACs}_\text{std} / \text{MACs}_\text{sep}$), and how many times faster it actually ran
# ($t_\text{std} / t_\text{sep}$). And the speed each kernel reaches, in GFLOP/s
# (2 FLOPs per multiply-add). A standard 3×3 convolution re-uses every input value $9F$
# times (it can become one large matrix multiply, which BLAS can run near the machine's
# peak); a depthwise convolution uses each input value only 9 times, so it tends to be
# limited by how fast memory delivers the data, not by arithmetic: its share of the FLOPs is
# small, its share of the time often is not. The table shows how it goes on this machine.

# %%
print("\nPer layer: MACs std/sep = how many times fewer multiply-adds the separable layer does; t_std/t_sep = how many "
      "times faster it ran (measured above);\nGFLOP/s = the speed our standard, depthwise and pointwise kernels reached "
      "(2 FLOPs per multiply-add); depthwise share = the depthwise half's share of the separable layer's MACs and of "
      "its time.")
print(f"{'layer':<14}{'MACs std/sep':>13}{'ours t_std/t_sep':>18}" + (f"{'Keras t_std/t_sep':>19}" if tk else "")
      + f"{'GFLOP/s std':>13}{'depthwise':>11}{'pointwise':>11}{'depthwise share: MACs':>23}{'time':>7}")
summary = []
for row in timings:
    hw, c, f = row["shape"]
    t = row["t"]
    mac_ratio = row["macs_std"] / (row["macs_dw"] + row["macs_pw"])
    ours_ratio = t["ours standard"] / t["ours separable"]
    keras_ratio = t["Keras standard"] / t["Keras separable"] if tk else None
    gflops = {k: 2 * row[m] / (t[f"ours {k}"] * 1e-3) / 1e9 for k, m in (("standard", "macs_std"), ("depthwise", "macs_dw"), ("pointwise", "macs_pw"))}
    dw_mac_share = row["macs_dw"] / (row["macs_dw"] + row["macs_pw"])
    dw_time_share = t["ours depthwise"] / (t["ours depthwise"] + t["ours pointwise"])
    summary.append(dict(mac_ratio=mac_ratio, ours_ratio=ours_ratio, keras_ratio=keras_ratio, gflops=gflops))
    print(f"{f'{hw}x{hw} {c}->{f}':<14}{mac_ratio:>12.1f}x{ours_ratio:>17.1f}x" + (f"{keras_ratio:>18.1f}x" if tk else "")
          + f"{gflops['standard']:>13.3g}{gflops['depthwise']:>11.3g}{gflops['pointwise']:>11.3g}{dw_mac_share:>22.0%}{dw_time_share:>8.0%}")

fewer = np.mean([s["mac_ratio"] for s in summary])
faster = np.mean([s["ours_ratio"] for s in summary])
proportional = [s["ours_ratio"] >= s["mac_ratio"] for s in summary] + [s["keras_ratio"] >= s["mac_ratio"] for s in summary if tk]
print(f"\nOn this machine, this run: the separable layers do on average {fewer:.1f}x fewer multiply-adds; "
      f"t_std / t_sep was on average {faster:.2f} (ours)"
      + (f" and {np.mean([s['keras_ratio'] for s in summary]):.2f} (Keras)." if tk else ".")
      + f" Speed-up at least proportional to the FLOP saving in {sum(proportional)} of {len(proportional)} cases.")
print("Our depthwise kernel reaches {:.3g} GFLOP/s on average, our standard one {:.3g} GFLOP/s: the same FLOP costs "
      "~{:.0f}x more time in a depthwise kernel.".format(
    np.mean([s["gflops"]["depthwise"] for s in summary]), np.mean([s["gflops"]["standard"] for s in summary]),
    np.mean([s["gflops"]["standard"] for s in summary]) / np.mean([s["gflops"]["depthwise"] for s in summary])))

# %%
names = [f"{r['shape'][0]}x{r['shape'][0]}\n{r['shape'][1]}->{r['shape'][2]}" for r in timings]
xpos = np.arange(len(timings))
fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
series = ["ours standard", "ours separable"] + (["Keras standard", "Keras separable"] if tk else [])
colors = {"ours standard": "tab:blue", "ours separable": "tab:orange", "Keras standard": "lightsteelblue", "Keras separable": "navajowhite"}
width = 0.8 / len(series)
for i, name in enumerate(series):
    axes[0].bar(xpos + (i - (len(series) - 1) / 2) * width, [r["t"][name] for r in timings], width, label=name, color=colors[name])
axes[0].set_yscale("log")
axes[0].set_ylabel(f"ms per batch of {batch} (log scale)")
axes[0].set_title("forward time per layer", fontsize=10)
axes[0].legend(fontsize=8)

axes[1].bar(xpos - 0.27, [s["mac_ratio"] for s in summary], 0.27, label="MACs: standard / separable", color="0.6")
axes[1].bar(xpos, [s["ours_ratio"] for s in summary], 0.27, label="time: standard / separable (ours)", color="tab:orange")
if tk:
    axes[1].bar(xpos + 0.27, [s["keras_ratio"] for s in summary], 0.27, label="time: standard / separable (Keras)", color="navajowhite")
axes[1].axhline(1, color="black", linewidth=0.8)
axes[1].set_ylabel("times fewer MACs / times faster")
axes[1].set_title("fewer FLOPs is not proportionally faster" if not any(proportional) else "FLOP saving vs speed-up", fontsize=10)
axes[1].legend(fontsize=8)

for offset, kind, color in ((-0.27, "standard", "tab:blue"), (0.0, "depthwise", "tab:green"), (0.27, "pointwise", "tab:purple")):
    axes[2].bar(xpos + offset, [s["gflops"][kind] for s in summary], 0.27, label=f"ours {kind}", color=color)
axes[2].set_ylabel("GFLOP/s achieved")
axes[2].set_title("how fast each kernel turns FLOPs into results", fontsize=10)
axes[2].legend(fontsize=8)
for ax in axes:
    ax.set_xticks(xpos)
    ax.set_xticklabels(names, fontsize=8)
fig.suptitle(f"Measured on this machine ({machine}): batch {batch}, float32, forward only"
             + (" (QUICK mode: tiny batch, smoke test only)" if QUICK else ""), fontsize=11)
fig.tight_layout()
save(fig, "05_time_per_layer.png")

# %% [markdown]
# ## What to remember
#
# * Parameters: 435,306 → 184,234, and most of what remains is the Dense layer.
# * Multiply-adds: the separable network does a fraction of the standard one's, with the
#   same $\tfrac1F + \tfrac1{k^2}$ ratio per layer as the weights.
# * Time: FLOP counts alone do not predict speed. A depthwise kernel moves far more data per
#   multiply-add than a standard convolution's matrix multiply, and how well each kernel is
#   implemented matters as much as how many FLOPs it has — compare the printed ratios on your
#   own machine. `scratchconv bench` measures every kernel against TensorFlow in detail.
#
# Next: tutorial 6 trains this network from scratch and puts its learning curves next to Keras's.
