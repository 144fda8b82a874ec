"""The argument checks of ``ImageDataGenerator``: Keras 2's meanings, refused before any work.

Every check raises a ``ValueError`` (a bad value) or ``TypeError`` (a wrong kind of value) that
names the argument, says what was expected and what came.
"""

import numbers

import numpy as np

from .warp import FILL_MODES

# Keras 2 constructor arguments that scratchconv does not implement, with the value that switches
# each off: passing that value is accepted (so a Keras call that spells out its defaults still
# works), anything else is refused by name.
KERAS_ONLY = {
    "featurewise_center": False,
    "samplewise_center": False,
    "featurewise_std_normalization": False,
    "samplewise_std_normalization": False,
    "zca_whitening": False,
    "zca_epsilon": None,  # only used by zca_whitening: any value is harmless
    "brightness_range": None,
    "channel_shift_range": 0.0,
    "preprocessing_function": None,
}
SUPPORTED = ("rescale", "rotation_range", "width_shift_range", "height_shift_range", "shear_range",
             "zoom_range", "horizontal_flip", "vertical_flip", "fill_mode", "cval", "interpolation_order",
             "dtype", "validation_split", "data_format")


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_real(value, name, minimum=None):
    """A finite real number (not a bool), at least ``minimum`` when given."""
    if not _is_real(value):
        raise TypeError(f"ImageDataGenerator: {name} must be a number, got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"ImageDataGenerator: {name} must be finite, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"ImageDataGenerator: {name} must be >= {minimum}, got {value!r}")
    return value


def check_flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"ImageDataGenerator: {name} must be True or False, got {value!r}")
    return bool(value)


def check_shift(value, name):
    """A shift range as Keras 2 reads it, as ``(kind, values)``:

    - ("off", ()) for 0;
    - ("float", (f,)) for a float: uniform in [-f, f]; a fraction of the size when f < 1, else pixels;
    - ("int", (n,)) for an int: one of 0 .. n-1 pixels (``np.random.choice(n)``), with a random sign;
    - ("choice", values) for a 1-D sequence: one of the values, with a random sign; fractions of the
      size when every value is < 1, else pixels.
    """
    if isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) != 0:
        values = tuple(value.tolist() if isinstance(value, np.ndarray) else value)
        if np.ndim(value) != 1 or not values:
            raise ValueError(f"ImageDataGenerator: {name} as a sequence must be a non-empty 1-D list of "
                             f"numbers, got {value!r}")
        for v in values:
            check_real(v, f"{name} (each value)", minimum=0)
        return "choice", values
    if isinstance(value, np.ndarray):
        value = value.item()
    check_real(value, name, minimum=0)
    if value == 0:
        return "off", ()
    if isinstance(value, numbers.Integral):
        return "int", (int(value),)
    return "float", (float(value),)


def check_zoom(value):
    """[lower, upper] zoom factors: a number z gives [1 - z, 1 + z] (Keras), a pair is taken as is."""
    if isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) != 0:
        if np.ndim(value) != 1 or len(value) != 2:
            raise ValueError(f"ImageDataGenerator: zoom_range must be a number or a pair [lower, upper], "
                             f"got {value!r}")
        lower = check_real(value[0], "zoom_range[0]")
        upper = check_real(value[1], "zoom_range[1]")
        if not 0 < lower <= upper:
            raise ValueError(f"ImageDataGenerator: zoom_range [lower, upper] needs 0 < lower <= upper, "
                             f"got {value!r}")
        return [lower, upper]
    z = check_real(value, "zoom_range", minimum=0)
    if z >= 1:
        raise ValueError(f"ImageDataGenerator: zoom_range={z!r} draws factors in [{1 - z}, {1 + z}], "
                         f"which includes factors <= 0; pass a number below 1 or a pair [lower, upper]")
    return [1 - z, 1 + z]


def check_dtype(value):
    try:
        dtype = np.dtype(value)
    except TypeError:
        dtype = None
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"ImageDataGenerator: dtype must be 'float32' or 'float64', got {value!r}")
    return dtype


def check_fill_mode(value):
    if value not in FILL_MODES:
        raise ValueError(f"ImageDataGenerator: fill_mode must be one of {sorted(FILL_MODES)}, got {value!r}")
    return value


def check_interpolation_order(value):
    if isinstance(value, (bool, np.bool_)) or value not in (0, 1):
        raise ValueError(f"ImageDataGenerator: interpolation_order must be 0 (nearest) or 1 (bilinear), "
                         f"got {value!r}")
    return int(value)


def check_validation_split(value):
    check_real(value, "validation_split")
    if value and not 0 < value < 1:
        raise ValueError(f"ImageDataGenerator: validation_split must be strictly between 0 and 1, got {value!r}")
    return float(value)


def check_data_format(value):
    if value in (None, "channels_last"):
        return "channels_last"
    if value == "channels_first":
        raise ValueError("ImageDataGenerator: data_format='channels_first' is not supported; scratchconv's "
                         "images are channels_last (N, H, W, C): transpose them and leave data_format unset")
    raise ValueError(f"ImageDataGenerator: data_format must be 'channels_last', got {value!r}")


def check_keras_only(extra):
    """Refuse the Keras 2 arguments not implemented here (unless switched off) and unknown ones."""
    for name, value in extra.items():
        if name not in KERAS_ONLY:
            raise TypeError(f"ImageDataGenerator got an unexpected keyword argument {name!r}; "
                            f"it takes {', '.join(SUPPORTED)}")
        off = KERAS_ONLY[name]
        if name == "zca_epsilon" or value is off or (off is not None and value == off and not callable(value)):
            continue
        raise ValueError(f"ImageDataGenerator: {name}={value!r} is a Keras 2 argument that scratchconv does "
                         f"not implement; leave it out (or at {off!r})")


def check_params(params):
    """The transform dict of ``get_random_transform`` (Keras's keys; missing ones mean 'no change')."""
    if not isinstance(params, dict):
        raise TypeError(f"transform parameters must be a dict like get_random_transform's, got {type(params).__name__}")
    for key in ("channel_shift_intensity", "brightness"):
        if params.get(key) is not None:
            raise ValueError(f"transform parameters: {key}={params[key]!r} is not implemented in scratchconv "
                             f"(Keras 2's channel_shift_range / brightness_range); use None")
    values = {}
    for key, default in (("theta", 0), ("tx", 0), ("ty", 0), ("shear", 0), ("zx", 1), ("zy", 1)):
        value = params.get(key, default)
        if not _is_real(value) or not np.isfinite(value):
            raise ValueError(f"transform parameters: {key} must be a finite number, got {value!r}")
        values[key] = value
    for key in ("flip_horizontal", "flip_vertical"):
        values[key] = bool(params.get(key, False))
    return values


def check_images(x, name, ndim, allow_uint8=False):
    """x as an ndarray of rank ``ndim`` with float32/float64 (or uint8) values and no empty axis."""
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be an array of images, got {type(x).__name__}")
    x = np.asarray(x)
    allowed = (np.float32, np.float64, np.uint8) if allow_uint8 else (np.float32, np.float64)
    if x.dtype not in allowed:
        raise TypeError(f"{name} must be a float32 or float64 array{' (or uint8)' if allow_uint8 else ''}, "
                        f"got dtype {x.dtype}; convert it first, e.g. {name}.astype(np.float32)")
    if x.ndim != ndim:
        shape = "(H, W, C)" if ndim == 3 else "(N, H, W, C)"
        raise ValueError(f"{name} must have rank {ndim} {shape}, channels last; got shape {x.shape}")
    if 0 in x.shape[-3:]:
        raise ValueError(f"{name} must have at least one row, column and channel, got shape {x.shape}")
    return x
