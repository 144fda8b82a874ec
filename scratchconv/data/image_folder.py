"""Image folders as Keras 2's ``flow_from_directory`` reads them: the same files, order, labels and pixels.

    DIR/class_a/*.jpg, DIR/class_b/*.png, ...   one subfolder per class

What Keras's legacy ``DirectoryIterator`` does, and so this module:

- classes: ``classes`` when given (in that order), else the sorted names of DIR's subfolders;
- files: each class folder walked recursively (``os.walk``, roots sorted, file names sorted within
  a root; ``follow_links`` follows links to subfolders), keeping names that end, case-insensitively,
  in png, jpg, jpeg, bmp, ppm, tif or tiff (Keras's test has no dot, so ``"scanjpg"`` counts too);
  ``filenames`` are relative to DIR (``"class_a/x.jpg"``), class after class;
- ``validation_split`` with ``subset``: the first ``int(split * count)`` files of each class are
  'validation', the rest 'training';
- pixels: Keras's ``load_img``, with Pillow: decode, convert to 'RGB' / 'RGBA' / 'L' (grayscale
  keeps 16- and 32-bit grayscale as they are), resize to ``target_size`` with the named Pillow
  filter when the size differs (``keep_aspect_ratio`` crops the centre first), as float32.

Where this goes further than Keras: files without an image extension are counted in ``skipped``
(Keras skips them silently), and every image is decoded and checked before the first batch when
the decoded folder fits in ``cache_bytes`` (then kept in memory as uint8 and never decoded again),
else its header is checked at listing and it is decoded batch by batch; a file that is not a
readable image is a ``DatasetError`` naming it, never a half-read batch.
"""

import io
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .batches import BatchIterator
from .fashion_mnist import DatasetError

WHITE_LIST_FORMATS = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")
COLOR_MODES = {"rgb": 3, "rgba": 4, "grayscale": 1}
CLASS_MODES = ("categorical", "binary", "sparse", "input", None)
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")  # Keras's PIL names
DEFAULT_CACHE_BYTES = 2 * 1024**3  # decode once and keep in memory up to 2 GiB of uint8 pixels
DECODE_CHUNK = 256  # files decoded at a time (by `workers` threads) before copying into the cache


def _pil():
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is in the [reference] and [test] extras
        raise ImportError("reading image folders needs Pillow: python3 -m pip install pillow") from None
    return Image


# --------------------------------------------------------------------------- listing


def _walk_class_folder(class_dir, follow_links):
    """(root, file name) pairs under ``class_dir`` in Keras's order: roots sorted, names sorted."""
    for root, _, files in sorted(os.walk(class_dir, followlinks=follow_links), key=lambda entry: entry[0]):
        for name in sorted(files):
            yield root, name


def list_image_folder(directory, classes=None, follow_links=False, split=None):
    """What Keras's ``DirectoryIterator`` lists: ``(class_names, filenames, labels, skipped)``.

    class_names: list of str; filenames: paths relative to ``directory``; labels: (samples,) int32
    class indices; skipped: the files (relative paths) dropped for their extension.
    split: None or (start, stop) fractions of each class's files (``validation_split``).
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise DatasetError(f"{directory}: no such folder (expected one subfolder per class)")
    if not classes:
        classes = [sub for sub in sorted(os.listdir(directory)) if os.path.isdir(os.path.join(directory, sub))]
    class_names, filenames, labels, skipped = list(classes), [], [], []
    for index, name in enumerate(class_names):
        class_dir = os.path.join(directory, name)
        dirname = os.path.basename(class_dir)
        valid = []
        for root, fname in _walk_class_folder(class_dir, follow_links):
            relative = os.path.join(dirname, os.path.relpath(os.path.join(root, fname), class_dir))
            if fname.lower().endswith(WHITE_LIST_FORMATS):
                if fname.lower().endswith(".tiff"):
                    warnings.warn('Using ".tiff" files with multiple bands will cause distortion. '
                                  "Please verify your output.", stacklevel=3)
                valid.append(relative)
            else:
                skipped.append(relative)
        if split:
            valid = valid[int(split[0] * len(valid)):int(split[1] * len(valid))]
        filenames += valid
        labels += [index] * len(valid)
    return class_names, filenames, np.array(labels, dtype=np.int32), skipped


def subset_indices(count, limit, seed=None):
    """Which files ``limit`` keeps: a fixed random subset of at most ``limit`` of ``count``, drawn from
    ``seed`` (None: 0) and kept in order, (k,) int64; all of them when ``limit`` is None or >= count."""
    if limit is None or limit >= count:
        return np.arange(count)  # (count,)
    chosen = np.random.default_rng(0 if seed is None else seed).choice(count, size=limit, replace=False)
    return np.sort(chosen)  # (limit,)


# --------------------------------------------------------------------------- decoding


def load_image(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """Keras's ``load_img`` + ``img_to_array`` without the float conversion: (H, W, C) uint8 (or
    uint16/int32 for 16/32-bit grayscale images in 'grayscale' mode). target_size: (height, width)."""
    image_module = _pil()
    with open(path, "rb") as f:
        img = image_module.open(io.BytesIO(f.read()))
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif color_mode == "rgba":
        if img.mode != "RGBA":
            img = img.convert("RGBA")
    elif img.mode != "RGB":
        img = img.convert("RGB")
    if target_size is not None:
        width_height = (target_size[1], target_size[0])
        if img.size != width_height:
            resample = getattr(image_module.Resampling, interpolation.upper())
            if keep_aspect_ratio:
                width, height = img.size
                crop_height = min(height, (width * width_height[1]) // width_height[0])
                crop_width = min(width, (height * width_height[0]) // width_height[1])
                top, left = (height - crop_height) // 2, (width - crop_width) // 2
                img = img.resize(width_height, resample, box=[left, top, left + crop_width, top + crop_height])
            else:
                img = img.resize(width_height, resample)
    x = np.asarray(img)
    return x.reshape(x.shape + (1,)) if x.ndim == 2 else x


def _decode(path, options):
    """(image or None, error message or None) for one file; never raises."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. Pillow's "palette images with transparency" notes
            return load_image(path, *options), None
    except Exception as exc:  # noqa: BLE001  (Pillow raises OSError, SyntaxError, ValueError, ...)
        return None, f"{type(exc).__name__}: {exc}"


def _check_header(path):
    """None if Pillow recognises the file as an image (header only), else the error message."""
    try:
        with _pil().open(path) as img:
            img.size  # noqa: B018
        return None
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"


def _refuse(failures):
    shown = "".join(f"  {path}: {message}\n" for path, message in failures[:10])
    more = f"  ... and {len(failures) - 10} more\n" if len(failures) > 10 else ""
    raise DatasetError(f"{len(failures)} file(s) with an image extension are not readable images "
                       f"(remove or fix them):\n{shown}{more}".rstrip("\n"))


# --------------------------------------------------------------------------- the iterator


class DirectoryIterator(BatchIterator):
    """``ImageDataGenerator.flow_from_directory``: augmented batches from a folder of class folders.

    Keras's arguments and attributes (``classes``, ``class_indices``, ``filenames``,
    ``filepaths``, ``samples``, ``num_classes``, ``image_shape``, ``len(it)``); yields
    ``(x, y)`` with x (B, H, W, C) of the generator's dtype and y by ``class_mode``: 'categorical'
    one-hot (B, classes), 'binary'/'sparse' (B,) class indices, 'input' a copy of x, None: x alone.

    Beyond Keras: ``limit``: keep at most that many files, a fixed random subset drawn from ``seed``
    (``subset_indices``), in Keras's order; ``cache_bytes`` (default 2 GiB): the most decoded uint8 pixels kept in memory;
    ``prefetch``: batches prepared ahead in the background; ``workers``: decoding threads (default:
    the CPU count); ``skipped``: the files dropped for their extension; ``cached``: whether the
    images are in memory; ``verbose``: print Keras's "Found ..." line (and the skipped count).
    """

    def __init__(self, directory, image_data_generator, target_size=(256, 256), color_mode="rgb", classes=None,
                 class_mode="categorical", batch_size=32, shuffle=True, seed=None, follow_links=False,
                 subset=None, interpolation="nearest", keep_aspect_ratio=False, *, limit=None, cache_bytes=None,
                 prefetch=1, workers=None, verbose=True):
        self.target_size = self._check_target_size(target_size)
        if color_mode not in COLOR_MODES:
            raise ValueError(f"color_mode must be one of {sorted(COLOR_MODES)}, got {color_mode!r}")
        if class_mode not in CLASS_MODES:
            raise ValueError(f"class_mode must be one of {list(CLASS_MODES)}, got {class_mode!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {list(INTERPOLATIONS)}, got {interpolation!r}")
        if subset not in (None, "training", "validation"):
            raise ValueError(f"subset must be None, 'training' or 'validation', got {subset!r}")
        if subset is not None and not image_data_generator._validation_split:
            raise ValueError(f"subset={subset!r} needs ImageDataGenerator(validation_split=...) between 0 and 1")
        if classes is not None and (isinstance(classes, str) or not all(isinstance(c, str) for c in classes)):
            raise TypeError(f"classes must be a list of subfolder names, got {classes!r}")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
            raise ValueError(f"limit must be None or a positive integer (files kept), got {limit!r}")
        cache_bytes = DEFAULT_CACHE_BYTES if cache_bytes is None else cache_bytes
        if isinstance(cache_bytes, bool) or not isinstance(cache_bytes, (int, np.integer)) or cache_bytes < 0:
            raise ValueError(f"cache_bytes must be a non-negative integer, got {cache_bytes!r}")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers must be None or a positive integer, got {workers!r}")

        self.directory, self.image_data_generator = os.fspath(directory), image_data_generator
        self.color_mode, self.class_mode, self.interpolation = color_mode, class_mode, interpolation
        self.keep_aspect_ratio, self.subset = bool(keep_aspect_ratio), subset
        self.dtype = image_data_generator.dtype
        self.image_shape = self.target_size + (COLOR_MODES[color_mode],)
        split = image_data_generator._validation_split
        self.split = None if subset is None else ((0, split) if subset == "validation" else (split, 1))
        names, self.filenames, self.classes, self.skipped = list_image_folder(
            self.directory, classes, follow_links, self.split)
        kept = subset_indices(len(self.filenames), limit, seed)  # (samples,)
        self.filenames, self.classes = [self.filenames[k] for k in kept], self.classes[kept]
        self.class_indices = {name: index for index, name in enumerate(names)}
        self.num_classes, self.samples = len(names), len(self.filenames)
        self.filepaths = [os.path.join(self.directory, name) for name in self.filenames]
        self.labels = self.classes
        self._workers = workers or os.cpu_count() or 1
        if verbose:
            print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
            if self.skipped:
                print(f"Skipped {len(self.skipped)} files without an image extension "
                      f"({', '.join(WHITE_LIST_FORMATS)}), e.g. {self.skipped[0]}")
        pixels = self.samples * int(np.prod(self.image_shape))
        self.cached = pixels <= cache_bytes
        self._images = self._decode_all() if self.cached else self._check_headers()
        super().__init__(self.samples, batch_size, shuffle, seed, prefetch)

    @staticmethod
    def _check_target_size(target_size):
        try:
            size = tuple(int(v) for v in target_size)
            valid = len(size) == 2 and min(size) >= 1 and all(
                not isinstance(v, bool) and v == int(v) for v in target_size)
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise ValueError(f"target_size must be (height, width), two positive integers; got {target_size!r}")
        return size

    @property
    def _decode_options(self):
        return self.color_mode, self.target_size, self.interpolation, self.keep_aspect_ratio

    def _decode_all(self):
        """Every image decoded and checked now, in threads: (samples, H, W, C) uint8 (float32 when a
        16/32-bit grayscale image needs it). Raises DatasetError naming every unreadable file."""
        stacked = np.empty((self.samples,) + self.image_shape, dtype=np.uint8)  # (samples, H, W, C)
        failures = []
        with ThreadPoolExecutor(self._workers) as pool:
            for start in range(0, self.samples, DECODE_CHUNK):  # bounded: decoded images wait for copying
                paths = self.filepaths[start:start + DECODE_CHUNK]
                for k, (image, error) in enumerate(pool.map(_decode, paths, [self._decode_options] * len(paths))):
                    if error is not None:
                        failures.append((paths[k], error))
                        continue
                    if image.dtype != np.uint8 and stacked.dtype == np.uint8:
                        stacked = stacked.astype(np.float32)  # exact for 16-bit values, as Keras's float32
                    stacked[start + k] = image
        if failures:
            _refuse(failures)
        return stacked

    def _check_headers(self):
        with ThreadPoolExecutor(self._workers) as pool:
            errors = list(pool.map(_check_header, self.filepaths))
        failures = [(path, error) for path, error in zip(self.filepaths, errors) if error is not None]
        if failures:
            _refuse(failures)
        return None

    def _load(self, indices):
        """The batch's images, (B, H, W, C): from memory, or decoded now (a DatasetError names a file
        that no longer decodes; the batch is then not returned)."""
        if self._images is not None:
            return self._images[indices]
        images = [_decode(self.filepaths[k], self._decode_options) for k in indices]
        failures = [(self.filepaths[k], error) for k, (_, error) in zip(indices, images) if error is not None]
        if failures:
            _refuse(failures)
        batch = np.empty((len(indices),) + self.image_shape, dtype=np.float32)  # (B, H, W, C)
        for k, (image, _) in enumerate(images):
            batch[k] = image
        return batch

    def _augment(self, images, rng):
        # Keras: img_to_array gives float32 whatever the generator's dtype; the batch takes its dtype
        return self.image_data_generator.augment_batch(images, rng, np.float32, self.dtype)

    def _targets(self, indices, batch_x):
        if self.class_mode == "input":
            return batch_x.copy()
        if self.class_mode in ("binary", "sparse"):
            return self.classes[indices].astype(self.dtype)  # (B,)
        if self.class_mode == "categorical":
            y = np.zeros((len(indices), self.num_classes), dtype=self.dtype)  # (B, classes)
            y[np.arange(len(indices)), self.classes[indices]] = 1.0
            return y
        return None
