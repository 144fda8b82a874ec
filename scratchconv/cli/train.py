"""``scratchconv train fashion-mnist`` and ``scratchconv evaluate CHECKPOINT``.

    scratchconv train fashion-mnist [--model separable|standard] [--epochs 10] [--batch-size 32]
        [--optimizer sgd|adam] [--learning-rate LR] [--limit N] [--data-dir DIR] [--out DIR]
        [--seed 0] [--init-from MODEL.keras] [--resume]
    scratchconv evaluate CHECKPOINT [--data-dir DIR] [--batch-size 32] [--limit N] [--compare-keras]

The data are found and prepared by ``scratchconv.datasets``, the same loader and the same
article's split and standardisation as ``reference/fashion_mnist.py``. The training uses the
article's settings: sparse categorical cross-entropy, SGD (Keras's default learning rate 0.01),
accuracy, EarlyStopping(patience=5, min_delta=1e-3) and a best-only checkpoint on val_loss.

The run folder (``--out``, default ``runs/fashion_mnist_<model>``):

    checkpoint_best.npz   the epoch with the lowest val_loss (what ``scratchconv evaluate`` takes)
    checkpoint_last.npz   the state after the last finished epoch (what ``--resume`` continues)
    history.csv           loss, accuracy, val_loss, val_accuracy per epoch (rewritten every epoch)
    learning_curves.png   the article's plot of the four series, y from 0 to 1
    run.json              the settings, and at the end the test metrics and the timings
"""

import argparse
import json
import os
import sys

import numpy as np

from ..data import DatasetError, load_fashion_mnist, split_and_standardize
from ..nn import callbacks as cb
from .._atomic import write_atomically
from ..nn.loading import load_checkpoint
from ..nn.networks import KINDS, fashion_mnist_model
from ..nn.optimizers import OPTIMIZERS

BEST, LAST, RUN = "checkpoint_best.npz", "checkpoint_last.npz", "run.json"
# What a resumed run takes from the interrupted one (the data and the schedule must be the same).
RESUMED_SETTINGS = ("model", "batch_size", "optimizer", "learning_rate", "limit", "seed", "init_from")


def add_train_arguments(parser):
    parser.add_argument("dataset", choices=["fashion-mnist"], help="the data set (the article's: fashion-mnist)")
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
    parser.add_argument("--init-from", default=None, metavar="MODEL.keras",
                        help="start from the weights of a saved Keras model of the same network "
                             "(e.g. to compare with a Keras run from the same start)")
    parser.add_argument("--resume", action="store_true",
                        help=f"continue the run in --out from its {LAST}, exactly as if it had not stopped")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                        help="1: progress bar (default), 2: one line per epoch, 0: quiet")


def add_evaluate_arguments(parser):
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="a scratchconv checkpoint (.npz) or a saved Keras model (.keras), e.g. the reference's")
    parser.add_argument("--data-dir", default=None, metavar="DIR", help="folder with the Fashion-MNIST IDX files")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N test images")
    parser.add_argument("--compare-keras", action="store_true",
                        help="for a .keras file: also predict with Keras and report the largest difference")


def _positive(value, option):
    if value is not None and value < 1:
        raise SystemExit(f"error: {option} must be >= 1, got {value}")


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


def _write_json(path, obj):
    write_atomically(path, lambda f: f.write(json.dumps(obj, indent=2) + "\n"), text=True)


def _new_model(args):
    if args.init_from:
        from ..nn.loading import from_keras

        model = from_keras(args.init_from)
        print(f"initial weights from {args.init_from}")
    else:
        model = fashion_mnist_model(args.model, seed=args.seed)
    model.rng = np.random.default_rng(args.seed)
    optimizer = OPTIMIZERS[args.optimizer]
    model.compile(optimizer() if args.learning_rate is None else optimizer(args.learning_rate),
                  "sparse_categorical_crossentropy", ["accuracy"])
    return model


def run_train(args):
    for value, option in ((args.epochs, "--epochs"), (args.batch_size, "--batch-size"), (args.limit, "--limit")):
        _positive(value, option)
    out = args.out or os.path.join("runs", f"fashion_mnist_{args.model}")
    settings = {key: getattr(args, key) for key in RESUMED_SETTINGS}
    if args.resume:
        if not os.path.exists(os.path.join(out, LAST)):
            raise SystemExit(f"error: --resume: no {LAST} in {out}; start the run without --resume")
        with open(os.path.join(out, RUN)) as f:
            settings = json.load(f)["settings"]
        print(f"resuming the run in {out} with its settings: {settings}")
    os.makedirs(out, exist_ok=True)
    data = _load_data(args.data_dir, settings["limit"])
    (x_train, y_train), validation, (x_test, y_test) = data
    if args.resume:
        model = load_checkpoint(os.path.join(out, LAST))
        print(f"{model.epochs_done} epochs done; continuing to {args.epochs}")
    else:
        model = _new_model(argparse.Namespace(**{**vars(args), **settings}))
        _write_json(os.path.join(out, RUN), {"settings": settings})
    model.summary()
    timer = cb.EpochTimer()
    callbacks = [cb.EarlyStopping(patience=5, min_delta=1e-3), timer, cb.CSVLogger(os.path.join(out, "history.csv")),
                 cb.ModelCheckpoint(os.path.join(out, BEST), save_best_only=True),
                 cb.ModelCheckpoint(os.path.join(out, LAST))]
    history = model.fit(x_train, y_train, batch_size=settings["batch_size"], epochs=args.epochs,
                        validation_data=validation, callbacks=callbacks, verbose=args.verbose,
                        resume=args.resume)
    try:
        from ..nn.plots import plot_learning_curves

        plot_learning_curves(history.history, os.path.join(out, "learning_curves.png"),
                             title=f"Fashion-MNIST, {settings['model']} network (scratchconv)")
    except ImportError as error:  # matplotlib/pandas are optional: pip install 'scratchconv[plot]'
        print(f"no learning_curves.png ({error}); pip install 'scratchconv[plot]' for it")
    final = model.evaluate(x_test, y_test, batch_size=settings["batch_size"], verbose=0)
    best = load_checkpoint(os.path.join(out, BEST)).evaluate(x_test, y_test, batch_size=settings["batch_size"],
                                                                verbose=0)
    steady = timer.seconds[1:] or timer.seconds  # the first epoch includes Numba's compilation
    report = {
        "settings": settings,
        "test": {"last_model": {"loss": final[0], "accuracy": final[1]},
                 "best_checkpoint": {"loss": best[0], "accuracy": best[1]}},
        "epochs_run": len(history.epoch), "epoch_seconds": timer.seconds,
        "seconds_per_epoch": float(np.mean(steady)),  # training and validation
        "history": history.history,
    }
    _write_json(os.path.join(out, RUN), report)
    print(f"test loss {final[0]:.4f}, test accuracy {final[1]:.4f} (last model); best checkpoint: "
          f"test loss {best[0]:.4f}, test accuracy {best[1]:.4f}")
    print(f"{report['seconds_per_epoch']:.1f} s per epoch (training and validation, first epoch left out); "
          f"run folder {out}")


def run_evaluate(args):
    _positive(args.batch_size, "--batch-size")
    _positive(args.limit, "--limit")
    path = args.checkpoint
    if not os.path.exists(path):
        raise SystemExit(f"error: no checkpoint at {path}")
    is_keras = path.endswith((".keras", ".h5"))
    if is_keras:
        from ..nn.loading import from_keras

        model = from_keras(path)
        if model.loss is None:
            model.compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
    else:
        model = load_checkpoint(path)
    _, _, (x_test, y_test) = _load_data(args.data_dir, None)
    x_test, y_test = x_test[: args.limit], y_test[: args.limit]
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=args.batch_size, verbose=0)[:2]
    print(f"{path}: test loss {loss:.4f}, test accuracy {accuracy:.4f} ({len(x_test)} images, scratchconv)")
    if args.compare_keras:
        if not is_keras:
            raise SystemExit("error: --compare-keras needs a saved Keras model (.keras)")
        from .._tensorflow import import_keras

        keras_model = import_keras().models.load_model(path)
        p_keras = keras_model.predict(x_test, batch_size=args.batch_size, verbose=0)
        p_ours = model.predict(x_test, batch_size=args.batch_size, verbose=0)
        keras_accuracy = float(np.mean(p_keras.argmax(-1) == y_test))
        ours_accuracy = float(np.mean(p_ours.argmax(-1) == y_test))
        print(f"Keras: test accuracy {keras_accuracy:.4f}; scratchconv {ours_accuracy:.4f}; "
              f"max |p_scratchconv - p_keras| = {np.abs(p_ours - p_keras).max():.2e}; "
              f"predicted classes differ on {int(np.sum(p_ours.argmax(-1) != p_keras.argmax(-1)))} images")


def main(argv=None):
    """``python -m scratchconv.nn.cli train ...`` / ``evaluate ...``, without the package's CLI."""
    parser = argparse.ArgumentParser(prog="python -m scratchconv.nn.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_arguments(sub.add_parser("train"))
    add_evaluate_arguments(sub.add_parser("evaluate"))
    args = parser.parse_args(argv)
    return (run_train if args.command == "train" else run_evaluate)(args)


if __name__ == "__main__":
    sys.exit(main())
