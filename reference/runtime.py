"""TensorFlow start-up for the reference trainings: quiet import, versions, device, seed, precision.

Importing this module imports TensorFlow and Keras (``from reference.runtime import tf, keras``)
through ``scratchconv._tensorflow``: TensorFlow's start-up noise (the absl banner, the oneDNN
notice, "Could not find cuda drivers", cuInit on a machine without a GPU, ...) is filtered out of
stderr while TensorFlow is imported and lists its devices; everything else it prints, and every
real warning or error, still reaches stderr. That module's docstring has what prints what, measured.
"""

from __future__ import annotations

import argparse
import os
import platform
from dataclasses import dataclass

from scratchconv._tensorflow import import_keras, import_tensorflow

tf = import_tensorflow()
keras = import_keras()

import numpy as np  # noqa: E402


def versions() -> dict:
    """Versions of the software the run depends on (the article prints these at the start)."""
    import matplotlib
    import pandas

    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__,
            "pandas": pandas.__version__, "matplotlib": matplotlib.__version__}


def add_common_arguments(parser: argparse.ArgumentParser, *, batch_size: int, out: str) -> None:
    """The options both trainings share."""
    parser.add_argument("--epochs", type=int, default=10, help="maximum number of epochs (default 10)")
    parser.add_argument("--batch-size", type=int, default=batch_size,
                        help=f"global batch size, split across replicas (default {batch_size})")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="use at most N images of each split (a quick run)")
    parser.add_argument("--out", default=out, metavar="DIR", help=f"run folder (default {out})")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7, as in the article)")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="mixed_float16 on GPU, mixed_bfloat16 on CPU (the last layer stays float32)")
    parser.add_argument("--strategy", choices=("default", "mirrored"), default="default",
                        help="'mirrored': tf.distribute.MirroredStrategy over all local GPUs "
                             "(over the logical CPUs when there is no GPU)")
    parser.add_argument("--logical-cpus", type=int, default=None, metavar="N",
                        help="split the CPU into N logical devices (to try --strategy mirrored without GPUs)")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                        help="Keras's fit verbosity: 1 progress bar (default), 2 one line per epoch")


def check_common_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject meaningless values before TensorFlow does any work."""
    for name in ("epochs", "batch_size", "limit", "logical_cpus"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")


@dataclass
class Runtime:
    """What ``start`` set up: the strategy to build the model under, and what to report."""

    strategy: tf.distribute.Strategy
    strategy_name: str
    device: str
    precision: str
    versions: dict

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync

    def describe(self) -> dict:
        return {"device": self.device, "strategy": self.strategy_name,
                "replicas": self.replicas, "precision": self.precision, "versions": self.versions}


def start(args: argparse.Namespace) -> Runtime:
    """Print versions, configure devices, seed, precision and strategy, print what was chosen.

    Must run before TensorFlow's runtime is initialised (before any tensor is made): logical
    CPU devices and GPU memory growth can only be configured before that.
    """
    info = versions()
    print(" | ".join(f"{name} {version}" for name, version in info.items()))
    gpus = tf.config.list_physical_devices("GPU")  # already listed (quietly) by import_tensorflow
    cpus = tf.config.list_physical_devices("CPU")
    for gpu in gpus:  # take GPU memory as needed rather than all of it up front
        tf.config.experimental.set_memory_growth(gpu, True)
    if args.logical_cpus:
        try:
            tf.config.set_logical_device_configuration(
                cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(args.logical_cpus)])
        except RuntimeError as exc:  # TensorFlow already started in this process
            raise SystemExit(f"--logical-cpus needs a fresh Python process: {exc}") from None
    if gpus:
        names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
        device = f"GPU x{len(gpus)}: " + ", ".join(names)
    else:
        device = f"CPU ({os.cpu_count()} cores; TensorFlow sees no GPU)"
    print(f"Device: {device}")

    keras.utils.set_random_seed(args.seed)  # Python, NumPy and TensorFlow generators
    precision = "float32"
    if args.mixed_precision:
        # float16 is fast on GPUs but very slow on CPUs; bfloat16 is the CPU's mixed type.
        precision = "mixed_float16" if gpus else "mixed_bfloat16"
    keras.mixed_precision.set_global_policy(precision)
    print(f"Precision: {precision}")

    if args.strategy == "mirrored":
        if gpus:
            strategy = tf.distribute.MirroredStrategy()
        else:
            strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    else:
        strategy = tf.distribute.get_strategy()
    print(f"Strategy: {args.strategy} ({type(strategy).__name__}), {strategy.num_replicas_in_sync} replica(s)"
          + (f" on {', '.join(strategy.extended.worker_devices)}" if args.strategy == "mirrored" else ""))
    return Runtime(strategy=strategy, strategy_name=args.strategy, device=device, precision=precision, versions=info)


def finish() -> None:
    """Undo global settings (precision policy) so that in-process callers start clean."""
    keras.mixed_precision.set_global_policy("float32")
