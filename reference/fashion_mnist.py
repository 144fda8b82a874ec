"""The article's Fashion-MNIST training with SeparableConv2D, on Keras 3.

    python -m reference.fashion_mnist [--model separable|standard] [--data-dir DIR] [--epochs 10]
        [--batch-size 32] [--limit N] [--out DIR] [--seed 7] [--mixed-precision]
        [--strategy default|mirrored] [--logical-cpus N] [--verbose 0|1|2]

Network (article): Conv2D(32, 3, 'same', selu, input 28x28x1) -> SeparableConv2D(32) -> MaxPool2D(2)
-> SeparableConv2D(64) x2 -> MaxPool2D(2) -> SeparableConv2D(128) x2 -> MaxPool2D(2) -> Flatten
-> Dense(128, selu) -> Dense(10, softmax); sparse categorical cross-entropy, SGD (Keras's default,
learning rate 0.01), accuracy. ``--model standard`` uses Conv2D in place of every SeparableConv2D:
435,306 parameters instead of 184,234.

Data (article): first 5,000 training images for validation, the other 55,000 for training, all
standardised with the mean and standard deviation of the 55,000 training images' pixels; the
10,000 test images for the final evaluation. Found as ``scratchconv.data.load_fashion_mnist``
says (``--data-dir``; else Keras's cache, Debian's package, Keras's download).
"""

from __future__ import annotations

import argparse
import sys

from reference import runtime
from reference.outputs import train_and_report
from reference.runtime import keras
from scratchconv.data import DatasetError, load_fashion_mnist, split_and_standardize

PARAMS = {"separable": 184_234, "standard": 435_306}


def build_model(kind: str = "separable", *, float32_output: bool = False) -> keras.Sequential:
    """The article's network; ``kind='standard'`` swaps each SeparableConv2D for a Conv2D.

    ``float32_output`` keeps the last Dense (and its softmax) in float32 under mixed precision.
    """
    if kind not in PARAMS:
        raise ValueError(f"build_model: kind must be 'separable' or 'standard', got {kind!r}")
    conv = keras.layers.SeparableConv2D if kind == "separable" else keras.layers.Conv2D
    layers = keras.layers
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),                                      # (N, 28, 28, 1)
        layers.Conv2D(32, 3, padding="same", activation="selu"),            # (N, 28, 28, 32)
        conv(32, 3, padding="same", activation="selu"),                      # (N, 28, 28, 32)
        layers.MaxPool2D(pool_size=2),                                       # (N, 14, 14, 32)
        conv(64, 3, padding="same", activation="selu"),                      # (N, 14, 14, 64)
        conv(64, 3, padding="same", activation="selu"),                      # (N, 14, 14, 64)
        layers.MaxPool2D(pool_size=2),                                       # (N, 7, 7, 64)
        conv(128, 3, padding="same", activation="selu"),                     # (N, 7, 7, 128)
        conv(128, 3, padding="same", activation="selu"),                     # (N, 7, 7, 128)
        layers.MaxPool2D(pool_size=2),                                       # (N, 3, 3, 128)
        layers.Flatten(),                                                    # (N, 1152)
        layers.Dense(128, activation="selu"),                                # (N, 128)
        layers.Dense(10, activation="softmax",
                     dtype="float32" if float32_output else None),           # (N, 10)
    ], name=f"fashion_mnist_{kind}")


def compile_model(model) -> None:
    """The article's ``compile``: sparse categorical cross-entropy, 'sgd', accuracy."""
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m reference.fashion_mnist",
                                     description="The article's Fashion-MNIST training (Keras 3).")
    parser.add_argument("--model", choices=tuple(PARAMS), default="separable",
                        help="separable (the article's, default) or standard (Conv2D everywhere)")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="folder with the four Fashion-MNIST IDX .gz files (default: search)")
    runtime.add_common_arguments(parser, batch_size=32, out="runs/fashion_mnist")
    args = parser.parse_args(argv)
    runtime.check_common_arguments(parser, args)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    rt = runtime.start(args)
    try:
        try:
            ((x_train_all, y_train_all), (x_test, y_test)), source = load_fashion_mnist(
                args.data_dir, return_source=True)  # uint8 (60000, 28, 28), (60000,), (10000, ...)
        except DatasetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"Fashion-MNIST from {source}")
        data = split_and_standardize(x_train_all, y_train_all, x_test, y_test, n_valid=5000)
        n = args.limit  # None: everything
        x_train, y_train = data.x_train[:n], data.y_train[:n]  # (55000, 28, 28, 1), (55000,)
        x_valid, y_valid = data.x_valid[:n], data.y_valid[:n]  # (5000, 28, 28, 1), (5000,)
        x_test, y_test = data.x_test[:n], data.y_test[:n]  # (10000, 28, 28, 1), (10000,)
        print(f"valid {x_valid.shape} {y_valid.shape}\ntrain {x_train.shape} {y_train.shape}\n"
              f"test  {x_test.shape} {y_test.shape}\nstandardised with mean {data.mean:.4f}, "
              f"std {data.std:.4f} of the training pixels")

        with rt.strategy.scope():
            model = build_model(args.model, float32_output=rt.precision != "float32")
            compile_model(model)
        model.summary()
        train_and_report(
            model, args.out,
            fit_args={"x": x_train, "y": y_train, "batch_size": args.batch_size,
                      "validation_data": (x_valid, y_valid)},
            evaluate_args={"x": x_test, "y": y_test, "batch_size": args.batch_size},
            split="test", epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose,
            plots=[("learning_curves.png", ["accuracy", "loss", "val_accuracy", "val_loss"], (0, 1), None,
                    f"Fashion-MNIST, {args.model} network (Keras {keras.__version__})")],
            run_info={"data_set": "fashion_mnist", "model": args.model, "data_source": source,
                      "limit": args.limit, "seed": args.seed, "standardize": {"mean": data.mean, "std": data.std},
                      **rt.describe()},
        )
        return 0
    finally:
        runtime.finish()


if __name__ == "__main__":
    sys.exit(main())
