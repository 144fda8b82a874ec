"""Training throughput, scratchconv vs Keras (TensorFlow on the CPU) and PyTorch, side by side in one run.

    python -m scratchconv.nn.benchmark [--models separable standard monkeys monkeys-separable mobilenet]
        [--samples 1024] [--monkeys-samples 128] [--mobilenet-samples 64] [--rounds 7] [--threads N]
        [--no-torch] [--json FILE]

What is timed: one epoch of training, ``model.fit(x, y, epochs=1, batch_size, shuffle=True,
verbose=0)`` (PyTorch: the same loop written out), from the same initial weights in every library:

- ``separable``, ``standard``: the article's Fashion-MNIST network (``networks.fashion_mnist_model``;
  Keras: ``reference.fashion_mnist.build_model``) on ``--samples`` random 28x28x1 images, batch 32,
  SGD (learning rate 0.01), sparse categorical cross-entropy, accuracy;
- ``monkeys``, ``monkeys-separable``: the 10-monkeys network (``networks.monkeys_model``, 128x128x3;
  Keras: ``to_keras`` of it) on ``--monkeys-samples`` random images, batch 64, Adam (0.001, epsilon
  1e-7 as Keras), sparse categorical cross-entropy (the article's one-hot categorical loss costs
  the same), accuracy. Fewer images per fit, so that a round stays a few seconds;
- ``mobilenet``: MobileNet v1 at 96x96x3, alpha 1.0, 10 classes (``networks.mobilenet_model``;
  Keras: ``keras.applications.MobileNet(weights=None, ...)`` holding the same weights) on
  ``--mobilenet-samples`` random images, batch 32, SGD (0.01), sparse categorical cross-entropy:
  batch normalisation in training mode, ReLU(6.), depthwise and 1x1 convolutions, global pooling.

PyTorch (optional, when ``import torch`` works; ``--no-torch`` skips it) trains the same layers
rebuilt in ``torch.nn`` (``benchmark_torch.torch_model``: Conv2d, the separable layers as a
depthwise Conv2d with groups=C and a 1x1 Conv2d, BatchNorm2d, ReLU6, MaxPool2d, Flatten, Linear;
the last softmax folded into ``CrossEntropyLoss``), in two workers: NCHW and channels_last (model and
batches). The faster of the two (median samples/s) is reported as PyTorch.

Each (library, network) pair runs in its own worker process, so each library has the machine's
threads to itself and its peak memory is its own; the workers of a network take turns, one at a
time, round after round (the order reversed every other round), so a change in the machine's
load hits all; the networks are measured one after the other. Keras's own rounds are bimodal on
the project's 2-vCPU machine (separable near 780 or near 1,500-1,800 samples/s), so the JSON
keeps every round's rate. Reported: median samples/s over the rounds (and the spread); the ratio
scratchconv / Keras three ways (``ratios``: median over median, per round, and against Keras's
faster half of rounds); scratchconv / PyTorch (median over median, per round) and over the faster
of Keras and PyTorch (medians); the first fit's time apart (Numba compilation, TensorFlow tracing)
and each worker's peak resident memory (ru_maxrss), with the resident memory right after start-up.

Threads: by default each library uses every core, with its own defaults (for scratchconv:
Numba's threads sleep between kernels, OMP_WAIT_POLICY=PASSIVE, and OpenBLAS's as soon as a
product ends, OPENBLAS_THREAD_TIMEOUT=4; see scratchconv/__init__.py). PyTorch's workers inherit
OMP_WAIT_POLICY=PASSIVE too (spinning OpenMP threads collapse on a shared 2-vCPU machine).
``--threads N`` gives every library N threads (Numba and OpenBLAS for scratchconv; TensorFlow's
intra- and inter-op pools for Keras; ``torch.set_num_threads``).
"""

import argparse
import importlib.util
import json
import multiprocessing
import os
import resource
import time

import numpy as np

from .._atomic import write_atomically
from ..bench import env
from ..bench.timing import sign_test
from .benchmark_torch import torch_model, torch_trainer  # noqa: F401  (torch_model: tests use it from here)

MODELS = ("separable", "standard", "monkeys", "monkeys-separable", "mobilenet")
TORCH_FORMATS = {"torch-nchw": "nchw", "torch-cl": "channels_last"}


def is_monkeys(kind):
    return kind.startswith("monkeys")


def input_shape(kind):
    return {"mobilenet": (96, 96, 3)}.get(kind, (128, 128, 3) if is_monkeys(kind) else (28, 28, 1))


def optimizer_name(kind):
    return "adam" if is_monkeys(kind) else "sgd"


def network(kind, seed=None):
    """The scratchconv model of a benchmark network (see the module docstring)."""
    from .networks import fashion_mnist_model, mobilenet_model, monkeys_model

    if kind == "mobilenet":
        return mobilenet_model(input_shape(kind), alpha=1.0, classes=10, seed=seed)
    if is_monkeys(kind):
        return monkeys_model("separable" if kind == "monkeys-separable" else "standard", seed=seed)
    return fashion_mnist_model(kind, seed=seed)


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _worker(conn, library, kind, weights, x, y, batch_size, threads):
    """Builds the model, then answers 'fit' (seconds for one epoch) and 'memory' until 'stop'."""
    if library == "keras":  # the reference's model and compile (scratchconv's kernels are never called here)
        from .._tensorflow import import_keras, import_tensorflow

        tf, keras = import_tensorflow(), import_keras()

        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)

        keras.utils.set_random_seed(0)
        if kind == "mobilenet":
            model = keras.applications.MobileNet(weights=None, input_shape=input_shape(kind), alpha=1.0, classes=10)
            model.set_weights(weights)
            model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        elif is_monkeys(kind):
            from .keras_io import to_keras

            model = to_keras(network(kind))
            model.set_weights(weights)
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        else:
            from reference.fashion_mnist import build_model, compile_model

            model = build_model(kind)
            model.set_weights(weights)
            compile_model(model)
    elif library in TORCH_FORMATS:
        import warnings

        import torch

        warnings.filterwarnings("ignore", message="CUDA initialization", category=UserWarning)
        torch.set_num_threads(threads or os.cpu_count())
        torch.manual_seed(0)
        model = None
        model = network(kind)
        model.set_weights(weights)
        fit = torch_trainer(model, optimizer_name(kind), batch_size, TORCH_FORMATS[library], torch)
        model = None
    else:
        model = network(kind)
        model.set_weights(weights)
        model.compile(optimizer_name(kind), "sparse_categorical_crossentropy", ["accuracy"])
    if model is not None:
        def fit(xs, ys, shuffle=True):
            model.fit(xs, ys, batch_size=batch_size, epochs=1, shuffle=shuffle, verbose=0)
    baseline = _rss_mb()
    start = time.perf_counter()
    fit(x[: 2 * batch_size], y[: 2 * batch_size], shuffle=False)
    conn.send({"first_fit_s": time.perf_counter() - start, "baseline_mb": baseline})
    while True:
        command = conn.recv()
        if command == "fit":
            start = time.perf_counter()
            fit(x, y)
            conn.send(time.perf_counter() - start)
        elif command == "memory":
            conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # KiB -> MiB
        else:
            return


def torch_available():
    """Whether PyTorch can be imported (checked without importing it here)."""
    return importlib.util.find_spec("torch") is not None


def run(models=("separable", "standard"), batch_size=32, samples=1024, rounds=7, seed=0, threads=None,
        torch=None, monkeys_samples=128, monkeys_batch_size=64, mobilenet_samples=64):
    """{model: {library: {samples_per_s, min, max, rounds, first_fit_s, baseline_mb, peak_mb}, ratios...,
    blas_threads}}; torch: compare with PyTorch (None: when it is installed)."""
    for kind in models:
        if kind not in MODELS:
            raise ValueError(f"models must be among {MODELS}, got {kind!r}")
    torch = torch_available() if torch is None else torch
    libraries = ("scratchconv", "keras", *(TORCH_FORMATS if torch else ()))
    context = multiprocessing.get_context("spawn")
    saved_environ = dict(os.environ)
    if threads:
        os.environ.update(NUMBA_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    blas_threads = os.environ.get("OPENBLAS_NUM_THREADS", "OpenBLAS's default")
    blas_core = env.blas_core()  # the workers inherit the environment, and with it OpenBLAS's kernel set
    blas_warning = env.blas_core_warning(blas_core)
    results = {}
    try:
        for kind in models:  # one network at a time: no idle worker of another network alive meanwhile
            count, batch = (monkeys_samples, monkeys_batch_size) if is_monkeys(kind) else (samples, batch_size)
            count = mobilenet_samples if kind == "mobilenet" else count
            rng = np.random.default_rng(seed)
            x = rng.standard_normal((count, *input_shape(kind))).astype(np.float32)  # standardised images
            y = rng.integers(0, 10, count)
            result = _measure(context, libraries, kind, network(kind, seed=seed).get_weights(), x, y, batch,
                              rounds, threads)
            result.update(blas_threads=blas_threads, blas_core=blas_core, blas_core_warning=blas_warning,
                          batch_size=batch, samples=count)
            if torch:
                faster = max(TORCH_FORMATS, key=lambda name: result[name]["samples_per_s"])
                result["torch"] = dict(result[faster], memory_format=TORCH_FORMATS[faster])
            result.update(ratios(result["scratchconv"]["rounds"], result["keras"]["rounds"],
                                 result["torch"]["rounds"] if torch else None))
            results[kind] = result
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)
    return results


def ratios(ours, keras, torch=None):
    """The ratios of scratchconv's samples/s per round to the others' (rounds taken in turns):

    - ratio: over Keras, median over median;
    - ratio_per_round: the median of round r's ours / Keras, over the rounds;
    - ratio_faster_half: our median over the median of Keras's faster half of its rounds (Keras
      on a small machine is bimodal, some rounds at about half speed: this one leaves those out);
    - rounds_faster, rounds_slower: the rounds in which scratchconv was the faster and the slower
      of the two (ties count for neither), and sign_test_p, the sign test's two-sided p-value of
      that split: whether the order holds round by round or only in the medians;
    - with PyTorch's rates: ratio_torch (median over median), ratio_torch_per_round, and
      ratio_best_peer: our median over the faster of Keras's and PyTorch's medians.
    """
    ours, keras = np.asarray(ours, float), np.asarray(keras, float)
    faster_half = np.sort(keras)[len(keras) // 2:]  # the middle round too, with an odd count
    faster, slower = int(np.sum(ours > keras)), int(np.sum(ours < keras))
    found = {"ratio": float(np.median(ours) / np.median(keras)),
             "ratio_per_round": float(np.median(ours / keras)),
             "ratio_faster_half": float(np.median(ours) / np.median(faster_half)),
             "rounds_faster": faster, "rounds_slower": slower, "sign_test_p": sign_test(faster, faster + slower)}
    if torch is not None:
        torch = np.asarray(torch, float)
        found.update(ratio_torch=float(np.median(ours) / np.median(torch)),
                     ratio_torch_per_round=float(np.median(ours / torch)),
                     ratio_best_peer=float(np.median(ours) / max(np.median(keras), np.median(torch))))
    return found


def _measure(context, libraries, kind, weights, x, y, batch_size, rounds, threads):
    """{library: {...}} for one network: one worker per library, taking turns, round after round."""
    samples = len(x)
    workers = {}
    for library in libraries:
        parent, child = context.Pipe()
        process = context.Process(target=_worker, args=(child, library, kind, weights, x, y, batch_size, threads))
        process.start()
        workers[library] = (process, parent, parent.recv())  # waits: start-ups one at a time
    times = {library: [] for library in workers}
    for r in range(rounds):
        for library in (libraries if r % 2 == 0 else libraries[::-1]):
            _, conn, _ = workers[library]
            conn.send("fit")
            times[library].append(conn.recv())
    result = {}
    for library, (process, conn, start) in workers.items():
        conn.send("memory")
        rates = samples / np.array(times[library])
        result[library] = {
            "samples_per_s": float(np.median(rates)), "min": float(rates.min()), "max": float(rates.max()),
            "rounds": [float(r) for r in rates],
            "first_fit_s": start["first_fit_s"], "baseline_mb": start["baseline_mb"], "peak_mb": conn.recv()}
        conn.send("stop")
        process.join()
    return result


def format_table(results, batch_size, samples, rounds, threads=None):
    first = next(iter(results.values()))
    torch = "torch" in first
    lines = [f"training throughput, median of {rounds} interleaved rounds, {threads or 'all'} thread(s) each "
             f"(OpenBLAS: {first['blas_threads']}"
             + (f", {first['blas_core']} kernels" if first.get("blas_core") else "") + "); images per fit and batch: "
             + ", ".join(f"{kind} {r.get('samples', samples)} / {r.get('batch_size', batch_size)}"
                         for kind, r in results.items()),
             *(["WARNING: " + first["blas_core_warning"]] if first.get("blas_core_warning") else []),
             f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", "",
             f"{'network':<18} {'library':<21} {'samples/s':>10} {'(min-max)':>15} {'ratio':>6} {'per round':>9} "
             f"{'vs faster half':>14} " + (f"{'/torch':>6} {'/peer':>6} " if torch else "")
             + f"{'first fit s':>11} {'start MB':>9} {'peak MB':>8}"]
    for kind, result in results.items():
        for library in ("scratchconv", "keras", *(TORCH_FORMATS if torch else ()), *(("torch",) if torch else ())):
            r = result[library]
            ours = library == "scratchconv"
            keys = ("ratio", "ratio_per_round", "ratio_faster_half") + (("ratio_torch", "ratio_best_peer") if torch else ())
            cells = [f"{result[key]:.2f}" if ours else "" for key in keys]
            name = f"torch ({r['memory_format']})" if library == "torch" else library
            lines.append(f"{kind:<18} {name:<21} {r['samples_per_s']:>10.0f} "
                         f"{'(' + format(r['min'], '.0f') + '-' + format(r['max'], '.0f') + ')':>15} {cells[0]:>6} "
                         f"{cells[1]:>9} {cells[2]:>14} " + (f"{cells[3]:>6} {cells[4]:>6} " if torch else "")
                         + f"{r['first_fit_s']:>11.1f} {r['baseline_mb']:>9.0f} {r['peak_mb']:>8.0f}")
    lines.append("")
    for kind, result in results.items():
        rounds = result["rounds_faster"] + result["rounds_slower"]
        lines.append(f"{kind}: scratchconv faster than Keras in {result['rounds_faster']} of {rounds} rounds "
                     f"(sign test p = {result['sign_test_p']:.2g})")
    lines += ["", "ratio: scratchconv / Keras, median over median; per round: the median of each round's ratio (the "
              "libraries take turns); vs faster half: our median over the median of Keras's faster half of its rounds"]
    if torch:
        lines.append("/torch: over PyTorch (the faster of its NCHW and channels_last workers, the 'torch' row); "
                     "/peer: over the faster of Keras and PyTorch (medians)")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m scratchconv.nn.benchmark", description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=["separable", "standard"])
    parser.add_argument("--batch-size", type=int, default=32, help="Fashion-MNIST batch (default 32)")
    parser.add_argument("--samples", type=int, default=1024, help="Fashion-MNIST images per timed fit (default 1024)")
    parser.add_argument("--monkeys-batch-size", type=int, default=64, help="10-monkeys batch (default 64)")
    parser.add_argument("--monkeys-samples", type=int, default=128,
                        help="10-monkeys images (128x128x3) per timed fit (default 128)")
    parser.add_argument("--mobilenet-samples", type=int, default=64,
                        help="MobileNet images (96x96x3, batch --batch-size) per timed fit (default 64)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="threads for each library (default: all cores)")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out (default: in when installed)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    results = run(args.models, args.batch_size, args.samples, args.rounds, threads=args.threads,
                  torch=False if args.no_torch else None, monkeys_samples=args.monkeys_samples,
                  monkeys_batch_size=args.monkeys_batch_size, mobilenet_samples=args.mobilenet_samples)
    print(format_table(results, args.batch_size, args.samples, args.rounds, args.threads))
    if args.json:
        write_atomically(args.json, lambda f: json.dump(results, f, indent=2), text=True)


if __name__ == "__main__":
    main()
