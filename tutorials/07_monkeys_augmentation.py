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
# which bounds — measured, not just stated), then the whole pipeline as a grid of variants.
#
# The image: set `SCRATCHCONV_MONKEYS_DIR` to your copy of the Kaggle data set (the folder
# with `monkey_labels.txt`) to use a real monkey; otherwise a photo that ships with
# matplotlib stands in — the augmentation does not care what is in the picture.
#
# Everything here is Keras: this tutorial needs TensorFlow (`pip install 'scratchconv[keras]'`).

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
# ## What to remember
#
# * `ImageDataGenerator`'s arguments map one-to-one onto preprocessing layers, with unit
#   changes: rotation in degrees → fraction of a turn; shear in **degrees** → a shear factor
#   (the article's 0.2 is a 0.2° shear, which does almost nothing).
# * Augmentation only acts with `training=True`; validation images are only rescaled.
# * Each draw stays within the promised bounds: ±40°, ±20 % shift, zoom 0.8–1.2 per axis,
#   mirror or not.
