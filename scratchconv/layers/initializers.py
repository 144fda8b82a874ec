"""Keras 3's built-in initializers, by name, by config dict or from a Keras initializer object.

    init = get("he_normal")                                               # Keras's name (or "HeNormal")
    init = get({"class_name": "RandomNormal", "config": {"stddev": 0.1, "seed": 3}})
    init = get(keras.initializers.Orthogonal(gain=2.0))                   # read through get_config()
    w = init((3, 3, 16, 32), np.float32, rng)                             # (shape, dtype, rng) -> array

    name                     draws                                          Keras defaults
    zeros, ones              0, 1
    constant                 value                                          value=0
    identity                 gain * eye(rows, cols) (2-D shapes only)       gain=1
    random_normal            N(mean, stddev)                                mean=0, stddev=0.05
    random_uniform           U[minval, maxval)                              minval=-0.05, maxval=0.05
    truncated_normal         N(mean, stddev), values beyond 2 stddev redrawn  mean=0, stddev=0.05
    variance_scaling         n = fan_in, fan_out or their mean (mode):      scale=1, mode='fan_in',
                               truncated_normal: stddev sqrt(scale / n) / 0.8796...  distribution=
                               untruncated_normal: stddev sqrt(scale / n)     'truncated_normal'
                               uniform: U[-sqrt(3 scale / n), sqrt(3 scale / n)]
    glorot_normal/_uniform   variance_scaling(1, 'fan_avg', truncated_normal / uniform)
    he_normal/_uniform       variance_scaling(2, 'fan_in', ...)
    lecun_normal/_uniform    variance_scaling(1, 'fan_in', ...)
    orthogonal               gain * Q of the QR of a N(0, 1) matrix          gain=1

0.87962566103423978 is the standard deviation of a standard normal truncated to [-2, 2]: dividing
by it makes the truncated draw's standard deviation sqrt(scale / n). Keras's aliases work too
('normal', 'uniform', 'one', 'zero', and the CamelCase class names).

Randomness: without a ``seed`` in the config, values come from the ``rng`` the layer passes (a
NumPy Generator). With a seed, every call draws from ``np.random.default_rng(seed)``, so the
same seed gives the same values on every call, as Keras's seeded initializers do. The values
differ from Keras's own random streams (TensorFlow's generators); the distributions are the
same. To start from Keras's exact weights, copy them (``set_weights`` or
``scratchconv.nn.from_keras``).
"""

import inspect
import math
import re

import numpy as np


def compute_fans(shape, input_axes=None, output_axes=None):
    """Keras's fan_in/fan_out: for a conv kernel (kh, kw, in, out) the receptive field kh*kw
    multiplies both; for a Dense kernel (in, out) they are in and out; a vector (n,) has n, n.
    With input_axes and output_axes (Keras's VarianceScaling arguments), the products of those axes."""
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return int(np.prod([shape[a] for a in input_axes])), int(np.prod([shape[a] for a in output_axes]))
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


# --------------------------------------------------------------------------- the draws
# Every initializer: (shape, dtype=np.float32, rng=None, **its Keras arguments) -> array of dtype.


def zeros(shape, dtype=np.float32, rng=None):
    return np.zeros(shape, dtype=dtype)


def ones(shape, dtype=np.float32, rng=None):
    return np.ones(shape, dtype=dtype)


def constant(shape, dtype=np.float32, rng=None, value=0.0):
    return np.full(shape, value, dtype=dtype)


def identity(shape, dtype=np.float32, rng=None, gain=1.0):
    """gain * the (rows, cols) identity matrix (ones on the main diagonal)."""
    if len(shape) != 2:
        raise ValueError(f"the identity initializer needs a 2-D shape, got {tuple(shape)}")
    return (gain * np.eye(*shape)).astype(dtype)


def random_normal(shape, dtype=np.float32, rng=None, mean=0.0, stddev=0.05):
    return np.random.default_rng(rng).normal(mean, stddev, size=shape).astype(dtype)


def random_uniform(shape, dtype=np.float32, rng=None, minval=-0.05, maxval=0.05):
    return np.random.default_rng(rng).uniform(minval, maxval, size=shape).astype(dtype)


def truncated_normal(shape, dtype=np.float32, rng=None, mean=0.0, stddev=0.05):
    """N(mean, stddev) with every value more than 2 stddev from the mean drawn again (as TensorFlow)."""
    rng = np.random.default_rng(rng)
    z = rng.standard_normal(size=shape)
    outside = np.abs(z) > 2.0
    while outside.any():  # about 4.6% of draws on each round
        z[outside] = rng.standard_normal(size=int(outside.sum()))
        outside = np.abs(z) > 2.0
    return (mean + stddev * z).astype(dtype)


MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")
TRUNCATED_STDDEV = 0.87962566103423978  # std of N(0, 1) truncated to [-2, 2]


def variance_scaling(shape, dtype=np.float32, rng=None, scale=1.0, mode="fan_in", distribution="truncated_normal",
                     input_axes=None, output_axes=None):
    """Keras's VarianceScaling: a spread of sqrt(scale / n), n from the fans (see the module docstring)."""
    scale, mode, distribution = _check_variance_scaling(scale, mode, distribution)
    fan_in, fan_out = compute_fans(shape, input_axes, output_axes)
    n = max(1.0, {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode])
    if distribution == "truncated_normal":
        return truncated_normal(shape, dtype, rng, 0.0, math.sqrt(scale / n) / TRUNCATED_STDDEV)
    if distribution == "untruncated_normal":
        return random_normal(shape, dtype, rng, 0.0, math.sqrt(scale / n))
    limit = math.sqrt(3.0 * scale / n)
    return random_uniform(shape, dtype, rng, -limit, limit)


def _check_variance_scaling(scale, mode, distribution):
    """Keras's argument checks; 'normal' means 'truncated_normal', as in Keras."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.number)) or not scale > 0:
        raise ValueError(f"variance_scaling's scale must be a positive number, got {scale!r}")
    if mode not in MODES:
        raise ValueError(f"variance_scaling's mode must be one of {MODES}, got {mode!r}")
    if not isinstance(distribution, str) or distribution.lower() not in (*DISTRIBUTIONS, "normal"):
        raise ValueError(f"variance_scaling's distribution must be one of {DISTRIBUTIONS} or 'normal', "
                         f"got {distribution!r}")
    distribution = distribution.lower()
    return float(scale), mode, "truncated_normal" if distribution == "normal" else distribution


def _scaled(scale, mode, distribution):
    """A variance_scaling preset (glorot_*, he_*, lecun_*): only the fan axes can be set."""
    def init(shape, dtype=np.float32, rng=None, input_axes=None, output_axes=None):
        return variance_scaling(shape, dtype, rng, scale, mode, distribution, input_axes, output_axes)
    init.__doc__ = f"variance_scaling(scale={scale}, mode={mode!r}, distribution={distribution!r})"
    return init


glorot_normal = _scaled(1.0, "fan_avg", "truncated_normal")
glorot_uniform = _scaled(1.0, "fan_avg", "uniform")  # U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out))
he_normal = _scaled(2.0, "fan_in", "truncated_normal")
he_uniform = _scaled(2.0, "fan_in", "uniform")
lecun_normal = _scaled(1.0, "fan_in", "truncated_normal")
lecun_uniform = _scaled(1.0, "fan_in", "uniform")


def orthogonal(shape, dtype=np.float32, rng=None, gain=1.0):
    """gain * an orthogonal matrix, as Keras: the shape seen as (prod(shape[:-1]), shape[-1]);
    Q of the QR factorisation of a N(0, 1) (max, min) matrix, its columns' signs set by R's
    diagonal; transposed when there are fewer rows than columns (then the rows are orthonormal)."""
    if len(shape) < 2:
        raise ValueError(f"the orthogonal initializer needs a shape of rank >= 2, got {tuple(shape)}")
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    a = np.random.default_rng(rng).standard_normal((max(rows, cols), min(rows, cols)))  # (max, min)
    q, r = np.linalg.qr(a)  # q (max, min) with orthonormal columns
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T  # (rows, cols)
    return (gain * q.reshape(shape)).astype(dtype)


# --------------------------------------------------------------------------- lookup

INITIALIZERS = {
    "zeros": zeros, "ones": ones, "constant": constant, "identity": identity,
    "random_normal": random_normal, "random_uniform": random_uniform, "truncated_normal": truncated_normal,
    "variance_scaling": variance_scaling, "glorot_normal": glorot_normal, "glorot_uniform": glorot_uniform,
    "he_normal": he_normal, "he_uniform": he_uniform, "lecun_normal": lecun_normal,
    "lecun_uniform": lecun_uniform, "orthogonal": orthogonal,
}
# Keras's other names for the same initializers (keras/src/initializers/__init__.py)
ALIASES = {"normal": "random_normal", "uniform": "random_uniform", "one": "ones", "zero": "zeros",
           "identity_initializer": "identity", "orthogonal_initializer": "orthogonal"}
_SEEDED = {"random_normal", "random_uniform", "truncated_normal", "variance_scaling", "glorot_normal",
           "glorot_uniform", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform", "orthogonal"}


def _snake(name):
    """Keras's to_snake_case: 'GlorotUniform' -> 'glorot_uniform', 'IdentityInitializer' -> 'identity_initializer'."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _lookup(name):
    key = ALIASES.get(_snake(name), _snake(name))
    if key not in INITIALIZERS:
        raise ValueError(f"initializer must be one of {sorted(INITIALIZERS)} (or Keras's class names, "
                         f"e.g. 'GlorotUniform', and aliases {sorted(ALIASES)}), got {name!r}")
    return key


def _configured(key, config):
    """INITIALIZERS[key] with its arguments from config; a seed fixes its random stream."""
    config = dict(config)
    seed = config.pop("seed", None)
    if isinstance(seed, dict):  # Keras serialises a SeedGenerator as a dict: no integer to reuse
        raise ValueError(f"initializer {key!r}: seed must be an int or None, got {seed!r}")
    if seed is not None and key not in _SEEDED:
        raise TypeError(f"initializer {key!r} takes no seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"initializer {key!r}: seed must be an int or None, got {seed!r}")
    if isinstance(config.get("value"), dict):  # Keras serialises a constant's value as a nested config
        config["value"] = config["value"].get("config", {}).get("value", config["value"])
    base = INITIALIZERS[key]
    if key == "variance_scaling":
        _check_variance_scaling(config.get("scale", 1.0), config.get("mode", "fan_in"),
                                config.get("distribution", "truncated_normal"))
    try:
        inspect.signature(base).bind((1, 1), np.float64, None, **config)  # the names only, no draw
    except TypeError as error:
        raise TypeError(f"initializer {key!r} got arguments it does not take: {sorted(config)} ({error})") from None

    def init(shape, dtype=np.float32, rng=None):
        return base(tuple(shape), dtype, rng if seed is None else np.random.default_rng(seed), **config)

    init.__name__ = key
    init.__doc__ = f"{key}({', '.join(f'{k}={v!r}' for k, v in config.items())}, seed={seed!r})"
    return init


def get(identifier):
    """A function (shape, dtype, rng) -> array for a Keras initializer: its name (snake_case,
    CamelCase or an alias), a config dict {"class_name": ..., "config": {...}}, or a Keras
    initializer object (read through its get_config(); Keras itself is not imported here)."""
    if isinstance(identifier, str):
        return INITIALIZERS[_lookup(identifier)]  # Keras's default arguments, the layer's rng
    if isinstance(identifier, dict):
        if "class_name" not in identifier:
            raise ValueError(f"an initializer config needs a 'class_name' (and a 'config'), got {identifier!r}")
        return _configured(_lookup(identifier["class_name"]), identifier.get("config") or {})
    if hasattr(identifier, "get_config") and type(identifier).__module__.startswith("keras"):
        return _configured(_lookup(type(identifier).__name__), identifier.get_config())
    raise TypeError(f"initializer must be a name such as 'glorot_uniform', a config dict "
                    f"{{'class_name': ..., 'config': {{...}}}} or a Keras initializer, got {identifier!r}")
