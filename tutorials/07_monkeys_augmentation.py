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
# # Tutorial 7 — The 10-monkeys augmentation, layer by layer
#
# The article's second example trains a CNN on Kaggle's *10 Monkey Species* and enlarges the
# training set with `keras.preprocessing.image.ImageDataGenerator`: random rotations, shifts,
# shears, zooms and horizontal flips. `ImageDataGenerator` is gone from Keras 3, so
# `reference/monkeys.py` rebuilds the same augmentation from Keras preprocessing layers. This
# tutorial takes one image through it: first each layer on its own (what does it do, within
# which bounds — measured, not just stated), then the whole pipeline as a grid of variants, and
# last the article's own composed warp — scratchconv's `ImageDataGenerator` beside Keras 2's and
# beside the Keras 3 layers, with the differences measured.
#
# The image: set `SCRATCHCONV_MONKEYS_DIR` to your copy of the Kaggle data set (the folder
# with `monkey_labels.txt`) to use a real monkey; otherwise a photo that ships with
# matplotlib stands in — the augmentation does not care what is in the picture.
#
# This tutorial needs TensorFlow (`pip install 'scratchconv[keras]'`) and, for Keras 2's
# generator, SciPy.

# %%
import os

import inspect
import math
from pathlib import Path

import matplotlib.cbook
import numpy as np

import _common  # tutorials/_common.py: paths, figure saving, optional TensorFlow
from _common import plt, save, keras_or_none


tk = keras_or_none()  # (tf, keras), imported without TensorFlow's start-up noise
if tk is None:
    raise SystemExit("Tutorial 7 is about Keras's preprocessing layers and needs TensorFlow: "
                     "pip install 'scratchconv[keras]'")
tf, keras = tk

from reference.monkeys import IMAGE_EXTENSIONS, IMAGE_SIZE, SHEAR_FACTOR, augmentation, check_layout

# %% [markdown]
# ## From `ImageDataGenerator` to preprocessing layers
#
# The article's arguments and what replaces each one in Keras 3:
#
# | `ImageDataGenerator(...)` | Keras 3 layer | note |
# |---|---|---|
# | `rescale=1./255` | `Rescaling(1/255)` | pixels 0..255 → 0..1 |
# | `rotation_range=40` | `RandomRotation(40/360)` | degrees there; a fraction of a full turn here: ±40° |
# | `width_shift_range=0.2`, `height_shift_range=0.2` | `RandomTranslation(0.2, 0.2)` | fraction of the size: up to ±25.6 px of 128 |
# | `shear_range=0.2` | `RandomShear(x_factor=sin(0.2°))` | **degrees** there: 0.2° is a shear factor of 0.0035 — almost nothing |
# | `zoom_range=0.2` | `RandomZoom(0.2, 0.2)` | zoom factor in [0.8, 1.2], height and width drawn independently |
# | `horizontal_flip=True` | `RandomFlip("horizontal")` | |
# | `fill_mode='nearest'` | `fill_mode="nearest"` on every geometric layer | pixels that come from outside repeat the edge |
#
# The layers only act when called with `training=True`; the validation images are only
# rescaled. Here is the reference's code, printed from `reference/monkeys.py`:

# %%
print(f"--- source of reference.monkeys.augmentation (module {augmentation.__module__}) ---")
print(inspect.getsource(augmentation))
print("--- end of source ---")
aug = augmentation(seed=7)
layer = {type(lay).__name__: lay for lay in aug.layers}
print("the pipeline's layers, in order:", [type(lay).__name__ for lay in aug.layers])

# The table above, checked against the layers' own settings:
assert math.isclose(layer["Rescaling"].scale, 1 / 255)
assert np.allclose(layer["RandomRotation"].factor, (-40 / 360, 40 / 360))
assert (layer["RandomTranslation"].height_factor, layer["RandomTranslation"].width_factor) == (0.2, 0.2)
assert np.allclose(layer["RandomShear"].x_factor, (-SHEAR_FACTOR, SHEAR_FACTOR)) and math.isclose(SHEAR_FACTOR, math.sin(math.radians(0.2)))
assert (layer["RandomZoom"].height_factor, layer["RandomZoom"].width_factor) == (0.2, 0.2)
assert layer["RandomFlip"].mode == "horizontal"
assert all(lay.fill_mode == "nearest" for lay in aug.layers if hasattr(lay, "fill_mode"))
print(f"RandomShear's x_factor = sin(0.2 deg) = {SHEAR_FACTOR:.5f}: at most {SHEAR_FACTOR * IMAGE_SIZE[0] / 2:.2f} px "
      "of displacement at the image's edge")

# %% [markdown]
# ## The image
#
# Loaded as `image_dataset_from_directory` loads the training images in the reference:
# resized to 128×128 with 'nearest' interpolation, float32 values 0..255.

# %%
def find_image():
    """A monkey from SCRATCHCONV_MONKEYS_DIR if set, else matplotlib's sample photo."""
    data_dir = os.environ.get("SCRATCHCONV_MONKEYS_DIR")
    if data_dir:
        labels, folders = check_layout(data_dir)  # a clear error if the folder is not Kaggle's layout
        first_class = folders["training"] / labels["Label"][0]
        path = sorted(p for p in first_class.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)[0]
        return path, f"a monkey from {first_class.name}"
    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)), "matplotlib's sample photo"


path, source = find_image()
image = keras.utils.img_to_array(keras.utils.load_img(path, target_size=IMAGE_SIZE, interpolation="nearest"))  # (128, 128, 3)
print(f"the image: {source}, file {path.name}, loaded as shape (H, W, channels) {image.shape}, {image.dtype}, "
      f"pixel values {image.min():.0f}..{image.max():.0f}")
assert image.shape == (*IMAGE_SIZE, 3)

# Validation images are only rescaled: with training=False the whole pipeline is Rescaling.
inference = np.asarray(aug(image[None], training=False))[0]  # (128, 128, 3)
assert np.allclose(inference, image / 255, atol=1e-6)
print(f"training=False: the pipeline only rescales (max |aug(x) - x/255| = {np.abs(inference - image / 255).max():.1e}, "
      "pixel values 0..1)")

# %% [markdown]
# ## Each layer on its own, measured
#
# To measure what a layer does, feed it a test pattern whose geometry is easy to read: a
# black 128×128 image with one small bright disc off-centre. The disc's centroid tells us
# where the layer moved it. Twenty copies go through each layer at once (each copy gets its
# own random draw), and every draw must stay within the bounds of the table.

# %%
size = IMAGE_SIZE[0]
centre = (size - 1) / 2
yy, xx = np.mgrid[0:size, 0:size]
disc_yx = (centre - 30, centre + 20)  # the disc: 30 px above and 20 px right of the centre
pattern = ((yy - disc_yx[0]) ** 2 + (xx - disc_yx[1]) ** 2 <= 5**2).astype(np.float32)  # (128, 128)
batch = np.repeat(pattern[None, :, :, None], 20, axis=0) * 255  # (20, 128, 128, 1), values 0/255


def centroids(images):
    """(y, x) centre of brightness of each image, relative to the image centre. (N, 2)"""
    w = images[..., 0]
    total = w.sum(axis=(1, 2))
    return np.stack([(w * yy).sum(axis=(1, 2)) / total - centre, (w * xx).sum(axis=(1, 2)) / total - centre], axis=1)


def through(layer_name):
    return np.asarray(layer[layer_name](batch, training=True))  # (20, 128, 128, 1)


start = centroids(batch[:1])[0]  # (2,) the disc relative to the centre: (-30, +20)

moved = centroids(through("RandomTranslation")) - start  # (20, 2)
print("Each layer alone on 20 copies of a 128x128 test pattern (one bright disc); where the disc's centre went:")
print(f"  RandomTranslation: shifts (y, x) between {moved.min(axis=0).round(1)} and {moved.max(axis=0).round(1)} px "
      f"(allowed: +-{0.2 * size:.1f} px)")
assert np.all(np.abs(moved) <= 0.2 * size + 1)

after = centroids(through("RandomRotation"))  # (20, 2)
angles = np.degrees(np.arctan2(after[:, 0], after[:, 1]) - np.arctan2(start[0], start[1]))
angles = (angles + 180) % 360 - 180
radius_change = np.hypot(*after.T) - np.hypot(*start)
print(f"  RandomRotation: angles between {angles.min():.1f} and {angles.max():.1f} degrees (allowed: +-40); "
      f"distance to the image centre kept within {np.abs(radius_change).max():.2f} px")
assert np.all(np.abs(angles) <= 40 + 0.5) and np.all(np.abs(radius_change) < 1)

scale = centroids(through("RandomZoom")) / start  # (20, 2) how far from the centre, per axis
print(f"  RandomZoom: distance to the image centre scaled by factors (y, x) from {scale.min(axis=0).round(3)} "
      f"to {scale.max(axis=0).round(3)} (allowed: 1/1.2 = 0.833 to 1/0.8 = 1.25)")
assert np.all((scale > 1 / 1.2 - 0.02) & (scale < 1 / 0.8 + 0.02))  # content scaled by 1/z, z in [0.8, 1.2]
assert np.abs(scale[:, 0] - scale[:, 1]).max() > 0.01  # height and width are zoomed independently

sheared = centroids(through("RandomShear")) - start
print(f"  RandomShear: the disc moved at most {np.abs(sheared).max():.2f} px (a shear of 0.2 degrees)")
assert np.abs(sheared).max() < 0.5

flipped = through("RandomFlip")[..., 0]  # (20, 128, 128)
is_same = np.all(flipped == pattern * 255, axis=(1, 2))
is_mirror = np.all(flipped == pattern[:, ::-1] * 255, axis=(1, 2))
print(f"  RandomFlip: {is_mirror.sum()} of 20 copies mirrored left-right, {is_same.sum()} unchanged")
assert np.all(is_same | is_mirror) and is_mirror.any() and is_same.any()

rescaled = through("Rescaling")
assert rescaled.max() == 1.0 and rescaled.min() == 0.0

# %% [markdown]
# The same layers on the photo: each row is one layer alone, four random draws. The rotation,
# shift and zoom rows show clearly; the shear row looks unchanged because a 0.2° shear moves
# nothing by more than a fraction of a pixel (that is what the article's `shear_range=0.2`
# asked for: `ImageDataGenerator` reads it in degrees); the flip row shows the mirror image or
# the original.

# %%
rows = ["Rescaling", "RandomRotation", "RandomTranslation", "RandomShear", "RandomZoom", "RandomFlip"]
draws = 4
photo_batch = np.repeat(image[None], draws, axis=0)  # (4, 128, 128, 3)
fig, axes = plt.subplots(len(rows), draws + 1, figsize=(8, 10))
for r, name in enumerate(rows):
    out = np.asarray(layer[name](photo_batch, training=True))  # (4, 128, 128, 3)
    if name != "Rescaling":
        out = out / 255  # show 0..1
    axes[r, 0].imshow(image / 255)
    axes[r, 0].set_ylabel(name, fontsize=9)
    for d in range(draws):
        axes[r, d + 1].imshow(np.clip(out[d], 0, 1))
    for ax in axes[r]:
        ax.set_xticks([])
        ax.set_yticks([])
axes[0, 0].set_title("original", fontsize=9)
for d in range(draws):
    axes[0, d + 1].set_title(f"draw {d + 1}", fontsize=9)
fig.suptitle(f"Each augmentation layer alone, 4 random draws ({source})", fontsize=10)
fig.tight_layout(rect=(0, 0, 1, 0.97))
save(fig, "07_each_layer.png", dpi=80)

# %% [markdown]
# ## The whole pipeline
#
# Training images go through all six layers in turn, a new random draw for every image in
# every epoch — so the network never sees exactly the same picture twice. Eleven draws of
# the full pipeline, next to the original:

# %%
variants = np.asarray(aug(np.repeat(image[None], 11, axis=0), training=True))  # (11, 128, 128, 3), 0..1
assert variants.shape == (11, *IMAGE_SIZE, 3) and variants.min() >= 0 and variants.max() <= 1 + 1e-6
assert len({v.tobytes() for v in variants}) == 11  # eleven different images
fig, axes = plt.subplots(3, 4, figsize=(8, 6.4))
for i, ax in enumerate(axes.ravel()):
    ax.imshow(image / 255 if i == 0 else np.clip(variants[i - 1], 0, 1))
    ax.set_title("original" if i == 0 else f"augmented {i}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("The article's augmentation (reference/monkeys.py), 11 random draws", fontsize=10)
fig.tight_layout(rect=(0, 0, 1, 0.96))
save(fig, "07_augmented_grid.png", dpi=80)

# %% [markdown]
# ## The article's own augmentation: one composed warp, in scratchconv, Keras 2 and Keras 3
#
# `ImageDataGenerator` did not run the steps one after the other. For each image it drew one
# set of numbers (an angle, a shift, a shear, two zoom factors, a coin for the flip), composed
# rotation, shift, shear and zoom into **one** affine map, and sampled the image once, with
# bilinear interpolation; the flip came after. scratchconv's `ImageDataGenerator`
# (`scratchconv.data`, what `scratchconv train monkeys` trains with) does the same
# arithmetic. Here is one draw, fixed to readable values, applied one step at a time and then
# all at once.

# %%
import importlib

from scratchconv.data import ARTICLE_AUGMENTATION, ImageDataGenerator
from scratchconv.data import warp

legacy_image = importlib.import_module("keras.src.legacy.preprocessing.image")  # Keras 2's generator, kept in Keras 3

print("the article's arguments:", ARTICLE_AUGMENTATION)
draw = {"theta": 25.0, "tx": -15.0, "ty": 10.0, "shear": 0.15, "zx": 0.9, "zy": 1.15,
        "flip_horizontal": 1, "flip_vertical": 0}  # one draw, within the article's ranges
print("one draw (as get_random_transform returns it; theta and shear in degrees, tx/ty in pixels):", draw)
assert abs(draw["theta"]) <= 40 and abs(draw["tx"]) <= 0.2 * size and abs(draw["ty"]) <= 0.2 * size
assert abs(draw["shear"]) <= 0.2 and 0.8 <= draw["zx"] <= 1.2 and 0.8 <= draw["zy"] <= 1.2

ours = ImageDataGenerator(fill_mode="nearest")  # rescaling is separate (standardize): pixels stay 0..255 here
neutral = {"theta": 0, "tx": 0, "ty": 0, "shear": 0, "zx": 1, "zy": 1, "flip_horizontal": 0, "flip_vertical": 0}
steps = [("rotation 25°", {"theta": draw["theta"]}), ("shift tx, ty", {"tx": draw["tx"], "ty": draw["ty"]}),
         ("shear 0.15°", {"shear": draw["shear"]}), ("zoom zx, zy", {"zx": draw["zx"], "zy": draw["zy"]}),
         ("flip", {"flip_horizontal": 1})]
each_step = [ours.apply_transform(image, {**neutral, **change}) for _, change in steps]  # 5 x (128, 128, 3)
composed = ours.apply_transform(image, draw)  # (128, 128, 3): the whole draw, one sampling, then the flip

# %% [markdown]
# The map it samples with: for an output pixel (row, col), the input is read at
# `matrix @ (row, col) + offset`. It is the product of the steps' own maps (each centred on the
# image), in the order rotation, shift, shear, zoom — which is also the order in which the
# steps act on the image when they are run one after the other.

# %%
def homogeneous(theta=0, tx=0, ty=0, shear=0, zx=1, zy=1):
    """Keras's map for an (H, W) image as a 3x3 matrix on (row, col, 1); the identity when Keras skips it."""
    affine = warp.keras_affine_matrix(theta, tx, ty, shear, zx, zy, size, size)
    full = np.eye(3)
    if affine is not None:
        full[:2, :2], full[:2, 2] = affine
    return full


total = homogeneous(*(draw[k] for k in ("theta", "tx", "ty", "shear", "zx", "zy")))  # (3, 3)
product = (homogeneous(theta=draw["theta"]) @ homogeneous(tx=draw["tx"], ty=draw["ty"])
           @ homogeneous(shear=draw["shear"]) @ homogeneous(zx=draw["zx"], zy=draw["zy"]))  # (3, 3)
np.set_printoptions(precision=4, suppress=True)
print("composed map, input (row, col, 1) = M @ output (row, col, 1):\n", total)
print("rotation @ shift @ shear @ zoom, each step's own centred map, multiplied:\n", product)
assert np.allclose(total, product, atol=1e-9)
print(f"largest entry difference between the two: {np.abs(total - product).max():.1e}")

# %% [markdown]
# The same draw through Keras 2's own code (`keras.src.legacy.preprocessing.image`, which
# calls `scipy.ndimage.affine_transform`), and through the Keras 3 layers of
# `reference/monkeys.py` with each layer's range pinned to this draw. The unit changes, measured
# on this image: Keras 2's `tx` (drawn from `height_shift_range`, in pixels) moves the image
# along its **columns** and is `RandomTranslation`'s `width_factor = -tx / width`; `ty` is
# `height_factor = -ty / height`; `zx` acts on the columns too (`width_factor = zx - 1`), `zy`
# on the rows; the shear angle `s` is `RandomShear`'s `x_factor = -sin(s)`. `RandomShear` and
# `RandomFlip` also draw a sign or a coin, so they are handed their transformation directly.

# %%
keras2 = legacy_image.ImageDataGenerator(fill_mode="nearest").apply_transform(image, draw)  # (128, 128, 3)

layers = keras.layers
batch_shape = (1, size, size, 3)
keras3_steps = [  # the pipeline's geometric layers, in its order, each pinned to this draw: (B, H, W, 3) -> same
    layers.RandomRotation((draw["theta"] / 360,) * 2, fill_mode="nearest"),
    layers.RandomTranslation((-draw["ty"] / size,) * 2, (-draw["tx"] / size,) * 2, fill_mode="nearest"),
    lambda x: layers.RandomShear(x_factor=0.0, fill_mode="nearest").transform_images(x, {
        "shear_factor": np.array([[-math.sin(math.radians(draw["shear"])), 0.0]], "float32"),
        "input_shape": batch_shape}),
    layers.RandomZoom((draw["zy"] - 1,) * 2, (draw["zx"] - 1,) * 2, fill_mode="nearest"),
    lambda x: layers.RandomFlip("horizontal").transform_images(x, {"flips": np.array([[[[True]]]]),
                                                                   "input_shape": batch_shape}),
]


def keras3_step(step, x):
    """One pinned Keras 3 layer on one image (128, 128, 3) -> (128, 128, 3)."""
    layer = keras3_steps[step]
    out = layer(x[None], training=True) if isinstance(layer, keras.layers.Layer) else layer(x[None])
    return np.asarray(out)[0]


def difference(a, b):
    gap = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    return gap.max(), gap.mean()


print("each step alone, scratchconv vs the pinned Keras 3 layer (pixel values 0..255):")
for k, ((name, _), ours_step) in enumerate(zip(steps, each_step)):
    largest, mean = difference(ours_step, keras3_step(k, image))
    print(f"  {name:<13} max |difference| {largest:7.3f}, mean |difference| {mean:.4f}")
    if "shear" not in name:
        assert largest < 0.01  # the same map, the same bilinear sampling, up to float32 rounding
# RandomShear shears about the top-left corner, ImageDataGenerator about the centre: the two sheared
# images are a constant shift apart. Shift scratchconv's by that much and they agree.
shear_anchor = math.sin(math.radians(draw["shear"])) * (size - 1) / 2  # px along the columns
anchored = ours.apply_transform(image, {**neutral, "shear": draw["shear"], "tx": -shear_anchor})  # (128, 128, 3)
largest, mean = difference(anchored, keras3_step(2, image))
print(f"  the shear differs by where it is anchored: RandomShear's image is ImageDataGenerator's shifted by "
      f"{shear_anchor:.2f} px; with that shift added, max |difference| {largest:.3f}, mean {mean:.4f}")
assert largest < 0.1

keras3 = image
for k in range(len(keras3_steps)):
    keras3 = keras3_step(k, keras3)  # (128, 128, 3): the layers one after the other, as in reference/monkeys.py

for name, other in (("Keras 2 (legacy ImageDataGenerator)", keras2), ("Keras 3 layers, pinned", keras3)):
    largest, mean = difference(composed, other)
    print(f"the whole draw, scratchconv vs {name}: max |difference| = {largest:.3g}, mean |difference| = {mean:.3g}")
largest2, mean2 = difference(composed, keras2)
largest3, mean3 = difference(composed, keras3)
assert largest2 == 0  # bit for bit: the same float64 arithmetic as SciPy's sampling

# Where do scratchconv and Keras 3 differ? Follow each output pixel back through the steps: the zoom
# reads the sheared image at Z @ p, the shear the shifted one at S @ Z @ p, and so on to the
# original at R @ T @ S @ Z @ p. The composed map needs only that last point inside the image; the
# layers, which keep a 128x128 image between steps, need every intermediate point inside too.
rows, cols = np.mgrid[0:size, 0:size]
pixels = np.stack([rows, cols, np.ones_like(rows)]).reshape(3, -1).astype(np.float64)  # (3, 128*128)
point = pixels
step_maps = [homogeneous(zx=draw["zx"], zy=draw["zy"]), homogeneous(shear=draw["shear"]),
             homogeneous(tx=draw["tx"], ty=draw["ty"]), homogeneous(theta=draw["theta"])]
inside_each = []
for step_map in step_maps:
    point = step_map @ point  # where this pixel reads the image before this step
    inside_each.append(((point[:2] >= 0) & (point[:2] <= size - 1)).all(axis=0).reshape(size, size)[:, ::-1])
read_inside = inside_each[-1]  # (128, 128): the composed map reads the original image (flipped as the output)
all_steps = np.logical_and.reduce(inside_each)  # (128, 128): and no step before needed a filled pixel
gap = np.abs(composed.astype(np.float64) - keras3).mean(axis=-1)  # (128, 128)
cropped = read_inside & ~all_steps
for label, where in (("read from the image at every step", all_steps),
                     ("read from the image, but through a pixel an earlier layer had filled", cropped),
                     ("filled from the edges by both", ~read_inside)):
    print(f"  {where.mean():4.0%} of the pixels {label}: mean |difference| {gap[where].mean():.2f}")
assert np.allclose(point, total @ pixels)  # the steps' maps, followed one by one, end where the composed map reads
assert gap[all_steps].mean() < 0.5 * gap[cropped].mean() and gap[all_steps].mean() < 5
print("The Keras 3 layers sample once per step (four bilinear samplings: a little smoother, plus the shear's "
      "0.17 px) and keep only a 128x128 image between steps, filling what a step moved out; the next step "
      "moves those fills into view (the streaks at the corners). The composed map samples once and fills once.")


# %% [markdown]
# Top row: each step alone, then the whole draw. Bottom row: the whole draw in scratchconv,
# Keras 2 and Keras 3, where scratchconv and Keras 3 differ (brighter = larger), and which
# output pixels the composed map reads from inside the image.

# %%
fig, axes = plt.subplots(2, 7, figsize=(14, 5.4))
panels = [("original", image)] + [(name, out) for (name, _), out in zip(steps, each_step)] + [("all at once", composed)]
for ax, (title, picture) in zip(axes[0], panels):
    ax.imshow(np.clip(picture / 255, 0, 1))
    ax.set_title(title, fontsize=9)
bottom = [("scratchconv", composed), (f"Keras 2 legacy\nmax |diff| {largest2:.0f}", keras2),
          (f"Keras 3 layers\nmean |diff| {mean3:.1f}", keras3)]
for ax, (title, picture) in zip(axes[1], bottom):
    ax.imshow(np.clip(picture / 255, 0, 1))
    ax.set_title(title, fontsize=9)
axes[1, 3].imshow(gap, cmap="magma")
axes[1, 3].set_title("|scratchconv - Keras 3|", fontsize=9)
axes[1, 4].imshow(all_steps * 1.0 + cropped * 0.5, cmap="gray", vmin=0, vmax=1)
axes[1, 4].set_title("image at every step (white),\nthrough a fill (grey)", fontsize=9)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
for ax in axes[1, 5:]:
    ax.axis("off")
fig.suptitle("The article's augmentation, one draw: step by step, then composed (scratchconv, Keras 2, Keras 3)",
             fontsize=10)
fig.tight_layout(rect=(0, 0, 1, 0.94))
save(fig, "07_composed_warp.png", dpi=80)

# %% [markdown]
# ## What to remember
#
# * `ImageDataGenerator`'s arguments map one-to-one onto preprocessing layers, with unit
#   changes: rotation in degrees → fraction of a turn; shear in **degrees** → a shear factor
#   (the article's 0.2 is a 0.2° shear, which does almost nothing).
# * Augmentation only acts with `training=True`; validation images are only rescaled.
# * Each draw stays within the promised bounds: ±40°, ±20 % shift, zoom 0.8–1.2 per axis,
#   mirror or not.
# * The article's `ImageDataGenerator` composes rotation, shift, shear and zoom into one map and
#   samples once; scratchconv's reproduces it exactly (difference 0). The Keras 3 layers run the
#   same steps in the same order but sample once per step: the same geometry, a little smoother.
