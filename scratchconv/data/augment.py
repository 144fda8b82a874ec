"""Keras 2's ``ImageDataGenerator`` (rotation, shifts, shear, zoom, flips, rescale) in NumPy + Numba.

The article's 10 Monkey Species training::

    from scratchconv.data import ImageDataGenerator
    train_gen = ImageDataGenerator(rescale=1 / 255, rotation_range=40, width_shift_range=0.2,
                                   height_shift_range=0.2, shear_range=0.2, zoom_range=0.2,
                                   horizontal_flip=True, fill_mode="nearest")
    train = train_gen.flow_from_directory("DIR/training/training", target_size=(128, 128),
                                          batch_size=64, seed=7)
    x, y = next(train)   # (64, 128, 128, 3) float32 in [0, 1], (64, 10) one-hot

Keras's semantics, checked against ``keras.src.legacy.preprocessing.image`` (tests/test_augment.py):

- ``get_random_transform`` draws the same dict from the same distributions as Keras, from a
  ``numpy.random.Generator`` (never NumPy's global state): theta uniform in ±rotation_range
  degrees; tx from height_shift_range (scaled by the height), ty from width_shift_range (by the
  width), each a float range, an int (one of 0..n-1 pixels, random sign) or a list of values;
  shear uniform in ±shear_range degrees; zx, zy independent, uniform in zoom_range; each flip
  with probability 1/2 when enabled. (In Keras's warp tx ends up moving the columns and ty the
  rows; see ``warp.py``. The values follow Keras, whatever the names suggest.)
- ``apply_transform`` composes rotation, shift, shear and zoom into one affine map exactly as
  Keras's ``apply_affine_transform`` and samples it as ``scipy.ndimage.affine_transform`` does (the
  same float64 arithmetic, so the result is equal, not close), then flips. The whole batch is
  warped in one parallel Numba call (``apply_transform_batch``).
- ``standardize`` multiplies by ``rescale`` in place, as Keras.
"""

import numpy as np

from . import augment_args as args
from .warp import FILL_MODES, keras_affine_matrix, pack_transforms, warp_batch


def _generator(seed=None, rng=None):
    """A numpy Generator: ``rng`` itself, else a fresh one from ``seed`` (None: from the OS)."""
    if rng is not None:
        if seed is not None:
            raise ValueError("pass either seed or rng, not both")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
                            f"got {type(rng).__name__}")
        return rng
    return np.random.default_rng(seed)


class ImageDataGenerator:
    """Keras 2's ``ImageDataGenerator`` for channels-last images (arguments as Keras 2's, by keyword).

    rescale: multiply by this after the transforms (None or 0: no rescaling).
    rotation_range: degrees; the angle is uniform in [-rotation_range, rotation_range].
    width_shift_range, height_shift_range: float (a fraction of the size when < 1, else pixels,
        uniform in ±range), int (0 .. n-1 pixels with a random sign) or a list of such values.
    shear_range: degrees (an angle, not a factor), uniform in ±shear_range.
    zoom_range: z gives factors uniform in [1 - z, 1 + z], or a pair [lower, upper].
    horizontal_flip, vertical_flip: flip with probability 1/2.
    fill_mode: 'nearest', 'constant' (cval), 'reflect' or 'wrap' (SciPy's; see warp.py).
    interpolation_order: 1 bilinear, 0 nearest.  dtype: of the batches, 'float32' or 'float64'.
    validation_split: the fraction of each class's files that ``flow_from_directory(subset=...)``
        gives to 'validation' (the first files) and leaves to 'training' (the rest).

    Keras 2's featurewise/samplewise normalisation, ZCA whitening, brightness_range,
    channel_shift_range and preprocessing_function are refused by name; unknown arguments are a
    TypeError. Every check runs here, before any image is touched.
    """

    def __init__(self, *, rescale=None, rotation_range=0, width_shift_range=0.0, height_shift_range=0.0,
                 shear_range=0.0, zoom_range=0.0, horizontal_flip=False, vertical_flip=False,
                 fill_mode="nearest", cval=0.0, interpolation_order=1, dtype="float32", validation_split=0.0,
                 data_format=None, **keras_only):
        args.check_keras_only(keras_only)
        self.data_format = args.check_data_format(data_format)
        self.rescale = None if rescale is None else args.check_real(rescale, "rescale")
        self.rotation_range = args.check_real(rotation_range, "rotation_range", minimum=0)
        self.width_shift_range = width_shift_range
        self.height_shift_range = height_shift_range
        self._width_shift = args.check_shift(width_shift_range, "width_shift_range")
        self._height_shift = args.check_shift(height_shift_range, "height_shift_range")
        self.shear_range = args.check_real(shear_range, "shear_range", minimum=0)
        self.zoom_range = args.check_zoom(zoom_range)
        self.horizontal_flip = args.check_flag(horizontal_flip, "horizontal_flip")
        self.vertical_flip = args.check_flag(vertical_flip, "vertical_flip")
        self.fill_mode = args.check_fill_mode(fill_mode)
        self.cval = float(args.check_real(cval, "cval"))
        self.interpolation_order = args.check_interpolation_order(interpolation_order)
        self.dtype = args.check_dtype(dtype)
        self._validation_split = args.check_validation_split(validation_split)
        self.channel_shift_range = 0.0
        self.brightness_range = None

    # ------------------------------------------------------------------ random parameters

    @staticmethod
    def _draw_shift(spec, size, rng):
        """Keras's shift draw for one axis of ``size`` pixels (see augment_args.check_shift)."""
        kind, values = spec
        if kind == "off":
            return 0
        if kind == "float":
            shift = rng.uniform(-values[0], values[0])
        else:
            shift = rng.integers(values[0]) if kind == "int" else rng.choice(values)
            shift = shift * rng.choice([-1, 1])
        if max(values) < 1:
            shift = shift * size
        return shift

    def get_random_transform(self, img_shape, seed=None, *, rng=None):
        """Random transform parameters for one image of shape (H, W, C), as Keras 2's dict.

        Draws from ``rng`` (a numpy Generator) or a fresh ``np.random.default_rng(seed)``.
        Keys: theta (degrees), tx (drawn from height_shift_range, times H when a fraction),
        ty (width_shift_range, times W), shear (degrees), zx, zy, flip_horizontal,
        flip_vertical (0/1), channel_shift_intensity and brightness (always None here).
        """
        if len(img_shape) != 3:
            raise ValueError(f"img_shape must be (H, W, C), got {img_shape!r}")
        rng = _generator(seed, rng)
        theta = rng.uniform(-self.rotation_range, self.rotation_range) if self.rotation_range else 0
        tx = self._draw_shift(self._height_shift, img_shape[0], rng)
        ty = self._draw_shift(self._width_shift, img_shape[1], rng)
        shear = rng.uniform(-self.shear_range, self.shear_range) if self.shear_range else 0
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx, zy = 1, 1
        else:
            zx, zy = rng.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        flip_horizontal = (rng.random() < 0.5) * self.horizontal_flip
        flip_vertical = (rng.random() < 0.5) * self.vertical_flip
        return {"theta": theta, "tx": tx, "ty": ty, "shear": shear, "zx": zx, "zy": zy,
                "flip_horizontal": flip_horizontal, "flip_vertical": flip_vertical,
                "channel_shift_intensity": None, "brightness": None}

    # ------------------------------------------------------------------ applying them

    def apply_transform_batch(self, x, params_list, out_dtype=None):
        """Warp each image x[n] with params_list[n], all in one parallel Numba call.

        x: (N, H, W, C) float32/float64, or uint8 (read as Keras's float32 ``img_to_array``);
        returns (N, H, W, C) of ``out_dtype`` (default: x's float dtype, float32 for uint8).
        Equal to Keras's ``apply_transform`` image by image. Not rescaled (see ``standardize``).
        """
        x = args.check_images(x, "x", 4, allow_uint8=True)
        if out_dtype is None:
            out_dtype = np.float32 if x.dtype == np.uint8 else x.dtype
        params_list = list(params_list)
        if len(params_list) != x.shape[0]:
            raise ValueError(f"params_list has {len(params_list)} entries for {x.shape[0]} images")
        checked = [args.check_params(p) for p in params_list]
        h, w = x.shape[1], x.shape[2]
        affines = [keras_affine_matrix(p["theta"], p["tx"], p["ty"], p["shear"], p["zx"], p["zy"], h, w)
                   for p in checked]
        transforms, flags = pack_transforms(affines, [p["flip_horizontal"] for p in checked],
                                            [p["flip_vertical"] for p in checked])
        return warp_batch(x, transforms, flags, self.interpolation_order, FILL_MODES[self.fill_mode],
                          self.cval, out_dtype)

    def apply_transform(self, x, transform_parameters):
        """One image x (H, W, C) float32/float64 warped by a ``get_random_transform`` dict; a new
        (H, W, C) array of x's dtype, equal to Keras's ``apply_transform`` (which may return x
        itself when nothing changes; this always returns a new array)."""
        x = args.check_images(x, "x", 3)
        return self.apply_transform_batch(x[None], [transform_parameters])[0]

    def random_transform(self, x, seed=None, *, rng=None):
        """x (H, W, C) with a random transform: ``apply_transform(x, get_random_transform(...))``."""
        x = args.check_images(x, "x", 3)
        return self.apply_transform(x, self.get_random_transform(x.shape, seed, rng=rng))

    def random_transform_batch(self, x, seed=None, *, rng=None, out_dtype=None):
        """Every image of x (N, H, W, C) with its own random transform (drawn in order from one
        Generator), warped in one parallel call; returns (N, H, W, C). Not rescaled."""
        x = args.check_images(x, "x", 4, allow_uint8=True)
        rng = _generator(seed, rng)
        params = [self.get_random_transform(x.shape[1:], rng=rng) for _ in range(x.shape[0])]
        return self.apply_transform_batch(x, params, out_dtype)

    def standardize(self, x):
        """Multiply x by ``rescale`` in place (when set) and return it, as Keras's ``standardize``."""
        if self.rescale:
            x *= self.rescale
        return x

    def augment_batch(self, images, rng, work_dtype, out_dtype):
        """What Keras's iterators do to each image of a batch: draw its transform (in order, from
        ``rng``), warp it in ``work_dtype``, standardize, store as ``out_dtype``.

        images: (B, H, W, C) uint8/float32/float64; returns (B, H, W, C) ``out_dtype``.
        """
        params = [self.get_random_transform(images.shape[1:], rng=rng) for _ in range(images.shape[0])]
        if images.shape[0] == 0:
            return np.zeros(images.shape, dtype=out_dtype)  # (0, H, W, C)
        batch = self.standardize(self.apply_transform_batch(images, params, work_dtype))  # (B, H, W, C)
        return batch.astype(out_dtype, copy=False)

    # ------------------------------------------------------------------ iterators

    def flow(self, x, y=None, batch_size=32, shuffle=True, seed=None, *, prefetch=1):
        """Augmented batches from arrays, as Keras's ``flow``: x (N, H, W, C), y (N, ...) or None.

        Yields ``(x_batch, y_batch)`` (or x_batch when y is None) forever, reshuffled each epoch
        when ``shuffle``; see ``ArrayIterator``.
        """
        from .batches import ArrayIterator

        return ArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle, seed=seed, prefetch=prefetch)

    def flow_from_directory(self, directory, target_size=(256, 256), color_mode="rgb", classes=None,
                            class_mode="categorical", batch_size=32, shuffle=True, seed=None,
                            follow_links=False, subset=None, interpolation="nearest",
                            keep_aspect_ratio=False, *, limit=None, cache_bytes=None, prefetch=1, workers=None,
                            verbose=True):
        """Augmented batches from a folder with one subfolder per class, as Keras's
        ``flow_from_directory`` (same files, order, labels, decoding and resizing); see
        ``scratchconv.data.image_folder.DirectoryIterator`` for the arguments after ``keep_aspect_ratio``.
        """
        from .image_folder import DirectoryIterator

        return DirectoryIterator(
            directory, self, target_size=target_size, color_mode=color_mode, classes=classes,
            class_mode=class_mode, batch_size=batch_size, shuffle=shuffle, seed=seed,
            follow_links=follow_links, subset=subset, interpolation=interpolation,
            keep_aspect_ratio=keep_aspect_ratio, limit=limit, cache_bytes=cache_bytes, prefetch=prefetch,
            workers=workers, verbose=verbose)
