"""The real-data comparison: the article's training in Keras and in scratchconv, from the same weights.

    python -m scratchconv.nn.compare [--model separable] [--epochs 10] [--limit N] [--data-dir DIR]
        [--out runs/compare_separable] [--seed 0] [--skip-keras]
    python -m scratchconv.nn.compare --data monkeys --data-dir DIR [--model standard]
        [--augmentation legacy|layers] [--scratchconv-pipeline scratchconv|keras] [--epochs 10]
        [--batch-size 64] [--limit N] [--seed 7] [--out runs/compare_monkeys_standard] [--skip-keras]
        [--weights-seed W] [--seeds 0 1 2]
    python -m scratchconv.nn.compare --summarize OUT1/seeds.json OUT2/seeds.json ...

1. Keras (the reference's ``build_model``/``compile_model``/``train_and_report``: the article's
   settings and callbacks) builds the network with seeded initial weights, saves them as
   ``initial.keras`` and trains: ``<out>/keras/``.
2. scratchconv trains the same network from ``initial.keras`` with the same settings
   (``scratchconv train fashion-mnist|monkeys --init-from``): ``<out>/scratchconv/``. The
   monkeys' batches come from scratchconv's own ``ImageDataGenerator`` (``--scratchconv-pipeline
   scratchconv``, the default) or from the very iterators Keras trains on (``keras``: Keras 2's
   legacy ``ImageDataGenerator``, seeded as Keras's run; needs ``--augmentation legacy``).
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
each seed's final validation/test accuracy in both libraries, whether each scratchconv accuracy
lies within the spread (min to max) of Keras's, and the mean validation accuracy over each run's
last 5 epochs (fewer when it stopped early), which one lucky or unlucky last epoch moves less; then
the means over the seeds. Below them, whether the difference could be chance: a permutation test
of the difference of the means (``permutation_p_value``), and how often a run of Keras's own would
land within the spread of the others (``within_spread_chance``: (k-1)/(k+1) for k runs, one half
for three). ``--summarize A/seeds.json B/seeds.json`` prints that table for the runs of several
``--seeds`` commands together (same settings), without training. When the two libraries'
accuracies differ, ``--scratchconv-pipeline keras`` tells whether the data pipeline or the
training makes the difference: both then train on Keras's batches. The monkeys' side is in
compare_monkeys.py.
"""

import argparse
import itertools
import json
import math
import os
import sys

import numpy as np

from .._atomic import write_atomically

PIPELINES = ("scratchconv", "keras")  # --scratchconv-pipeline: where scratchconv's monkey batches come from
PIPELINE_LINES = {
    "scratchconv": "scratchconv trains on its own ImageDataGenerator iterators (--scratchconv-pipeline scratchconv)",
    "keras": "scratchconv trains on Keras's legacy ImageDataGenerator iterators (--scratchconv-pipeline keras)"}
LAST_EPOCHS = 5  # compare_seeds: the smoother statistic averages the last this many epochs' val_accuracy
PERMUTATIONS = 20_000  # permutation_p_value: every relabelling up to this many, else this many random ones
# --summarize: the settings that must agree for runs of several --seeds commands to be pooled
POOLED_SETTINGS = ("data", "model", "augmentation", "scratchconv_pipeline", "epochs", "batch_size", "limit",
                   "data_dir", "weights_seed")


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
    parser.add_argument("--scratchconv-pipeline", choices=PIPELINES, default="scratchconv",
                        help="monkeys, where scratchconv's batches come from: scratchconv (its own "
                             "ImageDataGenerator, default) or keras (the very legacy ImageDataGenerator iterators "
                             "Keras trains on, seeded the same: the runs then differ only in the library that "
                             "trains; needs --augmentation legacy)")
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
    parser.add_argument("--summarize", nargs="+", default=None, metavar="SEEDS_JSON",
                        help="print the --seeds table for the runs of these seeds.json files together (the same "
                             "comparison settings), without training")
    args = parser.parse_args(argv)
    if args.summarize:
        try:
            result = pool_seeds(args.summarize)
        except (OSError, ValueError) as error:
            parser.error(f"--summarize: {error}")
        print(seeds_table(result))
        return
    monkeys = args.data == "monkeys"
    if monkeys and not args.data_dir:
        parser.error("--data monkeys needs --data-dir DIR (Kaggle's 10-monkey-species folder)")
    if args.scratchconv_pipeline == "keras" and not monkeys:
        parser.error("--scratchconv-pipeline keras is for --data monkeys only (Fashion-MNIST's batches are cut "
                     "from arrays, with no ImageDataGenerator)")
    if args.scratchconv_pipeline == "keras" and args.augmentation != "legacy":
        parser.error("--scratchconv-pipeline keras needs --augmentation legacy: scratchconv trains on Keras's "
                     "legacy ImageDataGenerator iterators, not on its preprocessing layers")
    args.model = args.model or ("standard" if monkeys else "separable")
    args.batch_size = args.batch_size or (64 if monkeys else 32)
    args.seed = (7 if monkeys else 0) if args.seed is None else args.seed
    out = args.out or os.path.join("runs", f"compare_monkeys_{args.model}" if monkeys else f"compare_{args.model}")
    if monkeys:
        print(PIPELINE_LINES[args.scratchconv_pipeline])
    if args.seeds:
        compare_seeds(args, out)
        return
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


def last_epochs_mean(history, epochs=LAST_EPOCHS):
    """The mean validation accuracy over a run's last ``min(epochs, epochs run)`` epochs.

    history: ``{"val_accuracy": [one per epoch], ...}`` (a run stopped early by EarlyStopping has
    fewer epochs: the mean is over what it has). Smoother than the last epoch's value alone, which
    one lucky or unlucky epoch moves.
    """
    if epochs < 1:  # values[-0:] would be every epoch
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    values = list(history["val_accuracy"])
    if not values:
        raise ValueError("the history has no val_accuracy: the run did not finish an epoch")
    return float(np.mean(values[-epochs:]))


def seed_row(seed, summary, split):
    """One seed's row of seeds.json from compare_once's summary: both final accuracies, both
    last-epochs means (and the epochs each run had), the seconds per epoch."""
    histories = summary["histories"]
    return {"seed": seed, **{k: summary[f"{split}_accuracy"][k] for k in ("keras", "scratchconv")},
            "seconds_per_epoch": summary["seconds_per_epoch"],
            "last_epochs_mean": {k: last_epochs_mean(histories[k]) for k in ("keras", "scratchconv")},
            "epochs_run": {k: len(histories[k]["val_accuracy"]) for k in ("keras", "scratchconv")}}


def permutation_p_value(a, b, permutations=PERMUTATIONS, seed=0):
    """Two-sided p-value of mean(b) - mean(a) if a and b were draws from one distribution.

    The permutation test: pool the values, relabel them into groups of len(a) and len(b) in every
    way (at most ``permutations`` ways; else that many random relabellings, seeded, counting the
    observed one), and return the share of relabellings whose difference of means is at least as
    large in absolute value as the observed one. No assumption about the distribution's shape.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1 or len(a) < 1 or len(b) < 1:
        raise ValueError(f"a and b must be non-empty 1-D samples, got shapes {a.shape} and {b.shape}")
    pooled, n = np.concatenate([a, b]), len(a)
    observed = abs(b.mean() - a.mean()) - 1e-12  # the tolerance: equal differences summed in another order
    total = pooled.sum()

    def differences(first):  # first: (R, n) indices of the relabelled a's
        sums = pooled[first].sum(axis=1)  # (R,)
        return np.abs((total - sums) / len(b) - sums / n)

    if math.comb(len(pooled), n) <= permutations:
        first = np.array(list(itertools.combinations(range(len(pooled)), n)))  # (C(n_a + n_b, n_a), n_a)
        return float(np.mean(differences(first) >= observed))
    rng = np.random.default_rng(seed)
    first = np.argsort(rng.random((permutations, len(pooled))), axis=1)[:, :n]  # (R, n): random relabellings
    return float((1 + np.sum(differences(first) >= observed)) / (1 + permutations))


def within_spread_chance(k):
    """The chance that one more run from the same distribution lands within the min-max spread of
    k runs: (k-1)/(k+1). Its rank among the k+1 is equally likely to be any, and only the lowest
    and highest lie outside (ties, as accuracies on a finite set have, only raise the chance)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return (k - 1) / (k + 1)


def summarize_seeds(rows):
    """Marks each row ``within_keras_spread``; returns ``(keras_spread, means, chance)``.

    keras_spread: [min, max] of Keras's final accuracies; means: over the seeds, of both final
    accuracies, of within_keras_spread (the fraction within), of both last-epochs means, and of
    the differences scratchconv - Keras, final and last-epochs mean; chance: the permutation test's
    p-value of each difference (``permutation_p_value``) and ``within_spread_chance`` of Keras's runs.
    """
    keras_accuracies = [row["keras"] for row in rows]
    low, high = min(keras_accuracies), max(keras_accuracies)
    for row in rows:
        row["within_keras_spread"] = low <= row["scratchconv"] <= high

    def mean(value):
        return float(np.mean([value(row) for row in rows]))

    def values(library, last=False):
        return [row["last_epochs_mean"][library] if last else row[library] for row in rows]

    means = {"keras": mean(lambda r: r["keras"]), "scratchconv": mean(lambda r: r["scratchconv"]),
             "within_keras_spread": mean(lambda r: r["within_keras_spread"]),
             "last_epochs_mean": {k: mean(lambda r: r["last_epochs_mean"][k]) for k in ("keras", "scratchconv")},
             "difference": mean(lambda r: r["scratchconv"] - r["keras"]),
             "last_epochs_mean_difference": mean(
                 lambda r: r["last_epochs_mean"]["scratchconv"] - r["last_epochs_mean"]["keras"])}
    chance = {"p_value": permutation_p_value(values("keras"), values("scratchconv")),
              "last_epochs_mean_p_value": permutation_p_value(values("keras", True), values("scratchconv", True)),
              "within_keras_spread_if_same": within_spread_chance(len(rows))}
    return [low, high], means, chance


def seeds_result(settings, split, rows):
    """seeds.json's content for these runs (summarize_seeds marks each row)."""
    (low, high), means, chance = summarize_seeds(rows)
    return {"settings": settings, "split": split, "runs": rows, "keras_spread": [low, high],
            "last_epochs": LAST_EPOCHS, "means": means, "chance": chance}


def pool_seeds(paths):
    """seeds_result for the runs of several seeds.json files: the same settings (POOLED_SETTINGS),
    no seed twice. The settings' seeds become all of them."""
    results = []
    for path in paths:
        with open(path) as f:
            results.append(json.load(f))
    first = results[0]["settings"]
    rows, seen = [], set()
    for path, result in zip(paths, results):
        for key in POOLED_SETTINGS:
            if result["settings"].get(key) != first.get(key):
                raise ValueError(f"{path}: setting {key!r} is {result['settings'].get(key)!r}, but "
                                 f"{paths[0]} has {first.get(key)!r}: only runs of the same comparison pool")
        for row in result["runs"]:
            missing = [key for key in ("seed", "keras", "scratchconv", "last_epochs_mean") if key not in row]
            if missing:
                raise ValueError(f"{path}: a run lacks {', '.join(missing)} (an older seeds.json): run --seeds again")
            if row["seed"] in seen:
                raise ValueError(f"{path}: seed {row['seed']} appears twice among the files")
            seen.add(row["seed"])
            rows.append(row)
    return seeds_result({**first, "seeds": sorted(seen)}, results[0]["split"], rows)


def compare_seeds(args, out):
    """compare_once for each of args.seeds, same initial weights; <out>/seeds.json and a table."""
    weights_seed = args.seeds[0] if args.weights_seed is None else args.weights_seed
    split = "validation" if args.data == "monkeys" else "test"
    rows = []
    for seed in args.seeds:
        one = argparse.Namespace(**{**vars(args), "seed": seed, "weights_seed": weights_seed, "seeds": None})
        rows.append(seed_row(seed, compare_once(one, os.path.join(out, f"seed_{seed}")), split))
    result = seeds_result({**vars(args), "weights_seed": weights_seed}, split, rows)
    write_atomically(os.path.join(out, "seeds.json"), lambda f: json.dump(result, f, indent=2), text=True)
    print("\n" + seeds_table(result))
    return result


def seeds_table(result):
    """compare_seeds's table (result: seeds.json's content): one line per seed, then the means over
    the seeds and the mean differences scratchconv - Keras, then whether those could be chance."""
    (low, high), means, last = result["keras_spread"], result["means"], f"last-{result['last_epochs']}"
    lines = [f"final {result['split']} accuracy (last model) and mean validation accuracy over the last "
             f"{result['last_epochs']} epochs (fewer where a run has fewer), same initial weights (seed "
             f"{result['settings']['weights_seed']}), one run per seed of the shuffling/augmentation; within: "
             f"scratchconv's final accuracy lies in Keras's spread [{low:.4f}, {high:.4f}]",
             f"{'seed':>6} {'Keras':>8} {'scratchconv':>12} {'within':>7} {'Keras ' + last:>13} "
             f"{'scratchconv ' + last:>19}"]

    def line(first, keras, ours, within, keras_last, ours_last):
        return f"{first:>6} {keras:>8.4f} {ours:>12.4f} {within:>7} {keras_last:>13.4f} {ours_last:>19.4f}"

    for row in result["runs"]:
        lines.append(line(row["seed"], row["keras"], row["scratchconv"], str(row["within_keras_spread"]),
                          row["last_epochs_mean"]["keras"], row["last_epochs_mean"]["scratchconv"]))
    lines.append(line("mean", means["keras"], means["scratchconv"], f"{means['within_keras_spread']:.2f}",
                      means["last_epochs_mean"]["keras"], means["last_epochs_mean"]["scratchconv"])
                 + f"   scratchconv - Keras: final {means['difference']:+.4f}, "
                   f"{last} {means['last_epochs_mean_difference']:+.4f}")
    chance = result["chance"]
    lines.append(f"chance: permutation test of the difference of the means (two-sided), final p = "
                 f"{chance['p_value']:.3f}, {last} p = {chance['last_epochs_mean_p_value']:.3f}; a run of "
                 f"Keras's own would lie within the spread of {len(result['runs'])} with probability "
                 f"{chance['within_keras_spread_if_same']:.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
