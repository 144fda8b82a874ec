"""Training throughput, scratchconv vs Keras (TensorFlow on the CPU), side by side in one run.

    python -m scratchconv.nn.benchmark [--models separable standard] [--batch-size 32]
        [--samples 1024] [--rounds 7] [--threads N] [--json FILE]

What is timed: ``model.fit(x, y, epochs=1, batch_size=32, shuffle=True, verbose=0)`` on the
article's network (SGD, sparse categorical cross-entropy, accuracy) over ``--samples`` images,
in both libraries, starting from the same weights. Each (library, network) pair runs in its
own worker process, so each library has the machine's threads to itself and its peak memory
is its own; the two workers of a network take turns, one at a time, round after round (the
order alternating every round), so a change in the machine's load hits both; the networks are
measured one after the other, so only two processes exist at a time. Keras's own rounds are
bimodal on the project's 2-vCPU machine (separable near 780 or near 1,500-1,800 samples/s), so
the JSON keeps every round's rate. Reported: median samples/s over
the rounds (and the spread), the ratio scratchconv / Keras three ways (``ratios``: median over
median, per round, and against Keras's faster half of rounds), the first fit's time apart (Numba
compilation, TensorFlow tracing) and each worker's peak resident memory (ru_maxrss), with the
resident memory right after start-up (imports and data) for reference.

Threads: by default each library uses every core, with its own defaults (for scratchconv:
Numba's threads sleep between kernels, OMP_WAIT_POLICY=PASSIVE, and OpenBLAS's as soon as a
product ends, OPENBLAS_THREAD_TIMEOUT=4; see scratchconv/__init__.py). ``--threads N`` gives both
libraries N threads (Numba and OpenBLAS for scratchconv; TensorFlow's intra- and inter-op pools
for Keras).
"""

import argparse
import json
import multiprocessing
import os
import resource
import time

import numpy as np

from .._atomic import write_atomically


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

        from reference.fashion_mnist import build_model, compile_model

        keras.utils.set_random_seed(0)
        model = build_model(kind)
        model.set_weights(weights)
        compile_model(model)
    else:
        from .networks import fashion_mnist_model

        model = fashion_mnist_model(kind)
        model.set_weights(weights)
        model.compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
    baseline = _rss_mb()
    start = time.perf_counter()
    model.fit(x[: 2 * batch_size], y[: 2 * batch_size], batch_size=batch_size, epochs=1, verbose=0)
    conn.send({"first_fit_s": time.perf_counter() - start, "baseline_mb": baseline})
    while True:
        command = conn.recv()
        if command == "fit":
            start = time.perf_counter()
            model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=True, verbose=0)
            conn.send(time.perf_counter() - start)
        elif command == "memory":
            conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # KiB -> MiB
        else:
            return


def run(models=("separable", "standard"), batch_size=32, samples=1024, rounds=7, seed=0, threads=None):
    """{model: {library: {samples_per_s, min, max, rounds, first_fit_s, baseline_mb, peak_mb}, ratio, blas_threads}}."""
    from .networks import fashion_mnist_model

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, 28, 28, 1)).astype(np.float32)  # standardised images
    y = rng.integers(0, 10, samples)
    context = multiprocessing.get_context("spawn")
    saved_environ = dict(os.environ)
    if threads:
        os.environ.update(NUMBA_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    blas_threads = os.environ.get("OPENBLAS_NUM_THREADS", "OpenBLAS's default")
    results = {}
    try:
        for kind in models:  # one network at a time: no idle worker of another network alive meanwhile
            results[kind] = _measure(context, kind, fashion_mnist_model(kind, seed=seed).get_weights(), x, y,
                                     batch_size, rounds, threads)
            results[kind]["blas_threads"] = blas_threads
            results[kind].update(ratios(results[kind]["scratchconv"]["rounds"], results[kind]["keras"]["rounds"]))
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)
    return results


def ratios(ours, keras):
    """The ratios scratchconv / Keras from each library's samples/s per round (rounds taken in turns):

    - ratio: median over median;
    - ratio_per_round: the median of round r's ours / Keras, over the rounds;
    - ratio_faster_half: our median over the median of Keras's faster half of its rounds (Keras
      on a small machine is bimodal, some rounds at about half speed: this one leaves those out).
    """
    ours, keras = np.asarray(ours, float), np.asarray(keras, float)
    faster_half = np.sort(keras)[len(keras) // 2:]  # the middle round too, with an odd count
    return {"ratio": float(np.median(ours) / np.median(keras)),
            "ratio_per_round": float(np.median(ours / keras)),
            "ratio_faster_half": float(np.median(ours) / np.median(faster_half))}


def _measure(context, kind, weights, x, y, batch_size, rounds, threads):
    """{library: {...}} for one network: two workers, taking turns, round after round."""
    samples = len(x)
    workers = {}
    for library in ("scratchconv", "keras"):
        parent, child = context.Pipe()
        process = context.Process(target=_worker, args=(child, library, kind, weights, x, y, batch_size, threads))
        process.start()
        workers[library] = (process, parent, parent.recv())  # waits: start-ups one at a time
    times = {library: [] for library in workers}
    for r in range(rounds):
        for library in (("scratchconv", "keras") if r % 2 == 0 else ("keras", "scratchconv")):
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
    lines = [f"training throughput, batch {batch_size}, {samples} images per fit, median of {rounds} interleaved rounds, "
             f"{threads or 'all'} thread(s) each (OpenBLAS: {next(iter(results.values()))['blas_threads']})",
             f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", "",
             f"{'network':<10} {'library':<12} {'samples/s':>10} {'(min-max)':>15} {'ratio':>6} {'per round':>9} "
             f"{'vs faster half':>14} {'first fit s':>11} {'start MB':>9} {'peak MB':>8}"]
    for kind, result in results.items():
        for library in ("scratchconv", "keras"):
            r = result[library]
            ours = library == "scratchconv"
            ratio, per_round, faster = (f"{result[key]:.2f}" if ours else "" for key in
                                        ("ratio", "ratio_per_round", "ratio_faster_half"))
            lines.append(f"{kind:<10} {library:<12} {r['samples_per_s']:>10.0f} "
                         f"{'(' + format(r['min'], '.0f') + '-' + format(r['max'], '.0f') + ')':>15} {ratio:>6} "
                         f"{per_round:>9} {faster:>14} "
                         f"{r['first_fit_s']:>11.1f} {r['baseline_mb']:>9.0f} {r['peak_mb']:>8.0f}")
    lines += ["", "ratio: median over median; per round: the median of each round's ratio (the two libraries "
              "take turns); vs faster half: our median over the median of Keras's faster half of its rounds"]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m scratchconv.nn.benchmark", description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=("separable", "standard"), default=["separable", "standard"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--samples", type=int, default=1024, help="images per timed fit (default 1024)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="threads for each library (default: all cores)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    results = run(args.models, args.batch_size, args.samples, args.rounds, threads=args.threads)
    print(format_table(results, args.batch_size, args.samples, args.rounds, args.threads))
    if args.json:
        write_atomically(args.json, lambda f: json.dump(results, f, indent=2), text=True)


if __name__ == "__main__":
    main()
