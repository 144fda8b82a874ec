"""The real-data comparison: the article's training in Keras and in scratchconv, from the same weights.

    python -m scratchconv.nn.compare [--model separable] [--epochs 10] [--limit N] [--data-dir DIR]
        [--out runs/compare_separable] [--seed 0] [--skip-keras]
    python -m scratchconv.nn.compare --data monkeys --data-dir DIR [--model standard]
        [--augmentation legacy|layers] [--epochs 10] [--batch-size 64] [--limit N] [--seed 7]
        [--out runs/compare_monkeys_standard] [--skip-keras] [--weights-seed W] [--seeds 0 1 2]

1. Keras (the reference's ``build_model``/``compile_model``/``train_and_report``: the article's
   settings and callbacks) builds the network with seeded initial weights, saves them as
   ``initial.keras`` and trains: ``<out>/keras/``.
2. scratchconv trains the same network from ``initial.keras`` with the same settings
   (``scratchconv train fashion-mnist|monkeys --init-from``): ``<out>/scratchconv/``.
3. The reference's best checkpoint is loaded into scratchconv (``from_keras``) and both predict
   the test set (monkeys: the validation set): the largest difference in the probabilities and
   both accuracies.
4. ``<out>/learning_curves_side_by_side.png`` (both runs' curves in one figure) and
   ``<out>/comparison.json``.

The two trainings shuffle (and, for the monkeys, augment) differently (each library's own random
stream), so their curves are two runs of the same experiment from the same start, not the same
numbers. How far apart two such runs fall by chance alone is what ``--seeds`` measures: the whole
comparison once per seed of the shuffling and augmentation (``<out>/seed_<s>/``), all from the same
initial weights (``--weights-seed``, default the first seed), then ``<out>/seeds.json`` and a table:
each seed's final validation/test accuracy in both libraries, and whether each scratchconv
accuracy lies within the spread (min to max) of Keras's. The monkeys' side is in compare_monkeys.py.
"""

import argparse
import json
import os
import sys

import numpy as np

from .._atomic import write_atomically


def run_keras(out, kind, epochs, limit, data_dir, seed, batch_size=32):
    """The reference's training (its code), from seeded weights saved first as initial.keras."""
    from reference.fashion_mnist import build_model, compile_model
    from reference.outputs import save_model_atomically, train_and_report
    from reference.runtime import keras

    from ..cli.train import _load_data

    keras.utils.set_random_seed(seed)
    (x_train, y_train), validation, (x_test, y_test) = _load_data(data_dir, limit)
    model = build_model(kind)
    compile_model(model)
    os.makedirs(out, exist_ok=True)
    save_model_atomically(model, os.path.join(out, "initial.keras"))
    return train_and_report(
        model, os.path.join(out, "keras"),
        fit_args={"x": x_train, "y": y_train, "batch_size": batch_size, "validation_data": validation},
        evaluate_args={"x": x_test, "y": y_test, "batch_size": batch_size},
        split="test", epochs=epochs, batch_size=batch_size, verbose=2,
        plots=[("learning_curves.png", ["accuracy", "loss", "val_accuracy", "val_loss"], (0, 1), None,
                f"Fashion-MNIST, {kind} network (Keras {keras.__version__})")],
        run_info={"model": kind, "limit": limit, "seed": seed, "initial_weights": "initial.keras"})


def run_scratchconv(out, kind, epochs, limit, data_dir, seed, batch_size=32):
    from ..cli.train import add_train_arguments, run_train

    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    argv = ["fashion-mnist", "--model", kind, "--epochs", str(epochs), "--out", os.path.join(out, "scratchconv"),
            "--seed", str(seed), "--init-from", os.path.join(out, "initial.keras"), "--verbose", "2",
            "--batch-size", str(batch_size)]
    argv += ["--limit", str(limit)] if limit else []
    argv += ["--data-dir", data_dir] if data_dir else []
    run_train(parser.parse_args(argv))
    with open(os.path.join(out, "scratchconv", "run.json")) as f:
        return json.load(f)


def compare_predictions(keras_checkpoint, limit, data_dir):
    """scratchconv (from_keras) vs Keras on the test set, for one saved Keras model."""
    from .._tensorflow import import_keras
    from ..cli.train import _load_data
    from .loading import from_keras

    _, _, (x_test, y_test) = _load_data(data_dir, limit)
    p_keras = import_keras().models.load_model(keras_checkpoint).predict(x_test, batch_size=32, verbose=0)
    p_ours = from_keras(keras_checkpoint).predict(x_test, batch_size=32, verbose=0)
    return {"checkpoint": keras_checkpoint, "images": len(y_test),
            "max_abs_probability_difference": float(np.abs(p_ours - p_keras).max()),
            "keras_accuracy": float(np.mean(p_keras.argmax(-1) == y_test)),
            "scratchconv_accuracy": float(np.mean(p_ours.argmax(-1) == y_test)),
            "different_predictions": int(np.sum(p_ours.argmax(-1) != p_keras.argmax(-1)))}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m scratchconv.nn.compare", description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=("fashion-mnist", "monkeys"), default="fashion-mnist")
    parser.add_argument("--model", choices=("separable", "standard"), default=None,
                        help="default: separable for fashion-mnist, standard for monkeys (the article's)")
    parser.add_argument("--augmentation", choices=("legacy", "layers"), default="legacy",
                        help="monkeys, Keras's pipeline: legacy (the article's ImageDataGenerator, default) or "
                             "layers (Keras 3's preprocessing layers)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=None, help="default 32 (fashion-mnist), 64 (monkeys)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--seed", type=int, default=None, help="default 0 (fashion-mnist), 7 (monkeys)")
    parser.add_argument("--skip-keras", action="store_true", help="reuse <out>/keras and <out>/initial.keras")
    parser.add_argument("--weights-seed", type=int, default=None,
                        help="seed of the initial weights (default: --seed, or the first of --seeds)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="run the comparison once per seed of the shuffling/augmentation, same initial weights")
    args = parser.parse_args(argv)
    monkeys = args.data == "monkeys"
    if monkeys and not args.data_dir:
        parser.error("--data monkeys needs --data-dir DIR (Kaggle's 10-monkey-species folder)")
    args.model = args.model or ("standard" if monkeys else "separable")
    args.batch_size = args.batch_size or (64 if monkeys else 32)
    args.seed = (7 if monkeys else 0) if args.seed is None else args.seed
    out = args.out or os.path.join("runs", f"compare_monkeys_{args.model}" if monkeys else f"compare_{args.model}")
    if args.seeds:
        return compare_seeds(args, out)
    args.weights_seed = args.seed if args.weights_seed is None else args.weights_seed
    compare_once(args, out)


def compare_once(args, out):
    """One comparison into ``out``; returns its summary (also written to <out>/comparison.json)."""
    monkeys = args.data == "monkeys"
    if monkeys:
        from . import compare_monkeys as side

        split, title = "validation", f"10 Monkey Species, {args.model} network, same initial weights"
    else:
        side = argparse.Namespace(
            run_keras=lambda out, a: run_keras(out, a.model, a.epochs, a.limit, a.data_dir, a.seed, a.batch_size),
            run_scratchconv=lambda out, a: run_scratchconv(out, a.model, a.epochs, a.limit, a.data_dir, a.seed,
                                                           a.batch_size),
            compare_predictions=lambda path, a: compare_predictions(path, a.limit, a.data_dir))
        split, title = "test", f"Fashion-MNIST, {args.model} network, same initial weights"
    if not args.skip_keras:
        side.run_keras(out, args)
    with open(os.path.join(out, "keras", "metrics.json")) as f:
        keras_metrics = json.load(f)
    ours = side.run_scratchconv(out, args)
    import pandas as pd

    keras_history = pd.read_csv(os.path.join(out, "keras", "history.csv"))
    keras_history = {k: keras_history[k].tolist() for k in ("accuracy", "loss", "val_accuracy", "val_loss")}
    from .plots import plot_side_by_side

    plot_side_by_side({"Keras": keras_history, "scratchconv": ours["history"]},
                      os.path.join(out, "learning_curves_side_by_side.png"), title=title)
    summary = {
        "settings": vars(args),
        f"{split}_accuracy": {"keras": keras_metrics["final_model"]["accuracy"],
                              "scratchconv": ours[split]["last_model"]["accuracy"]},
        f"best_checkpoint_{split}_accuracy": {"keras": keras_metrics["best_checkpoint"]["accuracy"],
                                              "scratchconv": ours[split]["best_checkpoint"]["accuracy"]},
        "seconds_per_epoch": {"keras": keras_metrics["seconds_per_epoch"], "scratchconv": ours["seconds_per_epoch"]},
        "predictions_on_keras_best_checkpoint": side.compare_predictions(
            os.path.join(out, "keras", "best_model.keras"), args),
        "histories": {"keras": keras_history, "scratchconv": ours["history"]},
    }
    accuracy = summary[f"{split}_accuracy"]
    accuracy["difference"] = accuracy["scratchconv"] - accuracy["keras"]
    write_atomically(os.path.join(out, "comparison.json"), lambda f: json.dump(summary, f, indent=2), text=True)
    print(json.dumps({k: v for k, v in summary.items() if k != "histories"}, indent=2))
    return summary


def compare_seeds(args, out):
    """compare_once for each of args.seeds, same initial weights; <out>/seeds.json and a table."""
    weights_seed = args.seeds[0] if args.weights_seed is None else args.weights_seed
    split = "validation" if args.data == "monkeys" else "test"
    rows = []
    for seed in args.seeds:
        one = argparse.Namespace(**{**vars(args), "seed": seed, "weights_seed": weights_seed, "seeds": None})
        summary = compare_once(one, os.path.join(out, f"seed_{seed}"))
        rows.append({"seed": seed, **{k: summary[f"{split}_accuracy"][k] for k in ("keras", "scratchconv")},
                     "seconds_per_epoch": summary["seconds_per_epoch"]})
    keras_accuracies = [row["keras"] for row in rows]
    low, high = min(keras_accuracies), max(keras_accuracies)
    for row in rows:
        row["within_keras_spread"] = low <= row["scratchconv"] <= high
    result = {"settings": {**vars(args), "weights_seed": weights_seed}, "split": split, "runs": rows,
              "keras_spread": [low, high]}
    write_atomically(os.path.join(out, "seeds.json"), lambda f: json.dump(result, f, indent=2), text=True)
    print(f"\nfinal {split} accuracy, same initial weights (seed {weights_seed}), one run per seed of the "
          f"shuffling/augmentation:")
    print(f"{'seed':>6} {'Keras':>8} {'scratchconv':>12}  within Keras's spread [{low:.4f}, {high:.4f}]")
    for row in rows:
        print(f"{row['seed']:>6} {row['keras']:>8.4f} {row['scratchconv']:>12.4f}  {row['within_keras_spread']}")
    return result


if __name__ == "__main__":
    sys.exit(main())
