"""``scratchconv train fashion-mnist|monkeys`` (``scratchconv evaluate MODEL`` is evaluate.py's).

    scratchconv train fashion-mnist [--model separable|standard] [--epochs 10] [--batch-size 32]
        [--optimizer sgd|adam] [--learning-rate LR] [--limit N] [--data-dir DIR] [--out DIR]
        [--seed 0] [--init-from MODEL.keras] [--resume]
    scratchconv train monkeys --data-dir DIR ...        (see train_monkeys.py)

The data are found and prepared by ``scratchconv.datasets``, the same loader and the same
article's split and standardisation as ``reference/fashion_mnist.py``. The training uses the
article's settings: sparse categorical cross-entropy, SGD (Keras's default learning rate 0.01),
accuracy, EarlyStopping(patience=5, min_delta=1e-3) and a best-only checkpoint on val_loss.

The run folder (``--out``, default ``runs/fashion_mnist_<model>``) is run_folder.py's:
checkpoint_best.npz, checkpoint_last.npz, history.csv, learning_curves.png, run.json, metrics.json.
"""

import argparse
import os
import sys

from ..data import DatasetError, load_fashion_mnist, split_and_standardize
from ..nn.networks import KINDS, fashion_mnist_model
from ..nn.optimizers import OPTIMIZERS
from . import run_folder
from .run_folder import positive

# What a resumed run takes from the interrupted one (the data and the schedule must be the same).
RESUMED_SETTINGS = ("model", "batch_size", "optimizer", "learning_rate", "limit", "seed", "init_from")


def add_train_arguments(parser):
    """``train DATASET ...``: one sub-parser per data set, each with its own options and defaults."""
    datasets = parser.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    add_fashion_mnist_arguments(datasets.add_parser(
        "fashion-mnist", help="the article's Fashion-MNIST network (SeparableConv2D)",
        description="Train the article's Fashion-MNIST network on scratchconv's kernels."))
    from .train_monkeys import add_arguments

    add_arguments(datasets.add_parser(
        "monkeys", help="the article's 10 Monkey Species CNN, with its augmentation (Kaggle's folder)",
        description="Train the article's 10 Monkey Species CNN on scratchconv's kernels, with the article's "
                    "ImageDataGenerator augmentation."))


def add_fashion_mnist_arguments(parser):
    parser.add_argument("--model", choices=KINDS, default="separable",
                        help="separable (the article's, 184,234 parameters) or standard (Conv2D, 435,306)")
    parser.add_argument("--epochs", type=int, default=10, help="number of epochs (default 10, as the article)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32, Keras's)")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="sgd",
                        help="sgd (the article's) or adam, with Keras's defaults")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="learning rate (default: Keras's, 0.01 for sgd and 0.001 for adam)")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="use only the first N images of each split (a quick run)")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="folder with the four Fashion-MNIST IDX .gz files (default: search, as the reference)")
    parser.add_argument("--out", default=None, metavar="DIR", help="run folder (default runs/fashion_mnist_<model>)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the shuffling")
    run_folder.add_run_arguments(parser)


def _load_data(data_dir, limit):
    """The article's split and standardisation (statistics from all 55,000 training images), then --limit."""
    (x_train_all, y_train_all), (x_test, y_test), source = _read(data_dir)
    data = split_and_standardize(x_train_all, y_train_all, x_test, y_test, n_valid=5000)
    n = limit  # None: everything
    print(f"Fashion-MNIST from {source}: train {data.x_train[:n].shape}, valid {data.x_valid[:n].shape}, "
          f"test {data.x_test[:n].shape}")
    return (data.x_train[:n], data.y_train[:n]), (data.x_valid[:n], data.y_valid[:n]), (data.x_test[:n], data.y_test[:n])


def _read(data_dir):
    try:
        (train, test), source = load_fashion_mnist(data_dir, return_source=True)
    except DatasetError as error:
        raise SystemExit(f"error: {error}") from None
    return train, test, source


def run_train(args):
    if args.dataset == "monkeys":
        from .train_monkeys import run

        return run(args)
    for value, option in ((args.epochs, "--epochs"), (args.batch_size, "--batch-size"), (args.limit, "--limit")):
        positive(value, option)
    out = args.out or os.path.join("runs", f"fashion_mnist_{args.model}")
    settings = run_folder.start_run(out, {key: getattr(args, key) for key in RESUMED_SETTINGS}, args.resume)
    data = _load_data(args.data_dir, settings["limit"])
    (x_train, y_train), validation, (x_test, y_test) = data
    if args.resume:
        model = run_folder.resumed_model(out, args.epochs)
    else:
        optimizer = OPTIMIZERS[settings["optimizer"]]
        model = run_folder.initial_model(
            out, settings, lambda: fashion_mnist_model(settings["model"], seed=settings["seed"]),
            optimizer() if settings["learning_rate"] is None else optimizer(settings["learning_rate"]),
            "sparse_categorical_crossentropy")

    def plot(history, path):
        from ..nn.plots import plot_learning_curves

        plot_learning_curves(history, path, title=f"Fashion-MNIST, {settings['model']} network (scratchconv)")

    batch_size = settings["batch_size"]
    command = run_folder.command_line(["train", "fashion-mnist"], {
        "data_dir": args.data_dir, **settings, "epochs": args.epochs, "out": out})
    run_folder.train_and_report(
        model, out, settings, epochs=args.epochs, verbose=args.verbose, resume=args.resume, plot=plot, split="test",
        fit_args=dict(x=x_train, y=y_train, batch_size=batch_size, validation_data=validation),
        evaluate=lambda m: m.evaluate(x_test, y_test, batch_size=batch_size, verbose=0),
        samples=len(x_train), command=command)


def main(argv=None):
    """``python -m scratchconv.cli.train DATASET ...``: ``scratchconv train`` without the package's CLI."""
    parser = argparse.ArgumentParser(prog="python -m scratchconv.cli.train")
    add_train_arguments(parser)
    return run_train(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
