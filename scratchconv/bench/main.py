"""``scratchconv bench``: time every kernel against TensorFlow and PyTorch, side by side in one process.

For each layer (by default the article's Fashion-MNIST layers at batch 32, float32, NHWC, 3x3,
stride 1, 'same'; ``--set monkeys`` the 10-monkeys network's standard layers at batch 64) it
prints forward and forward+backward (every gradient) median milliseconds, GFLOP/s, the share of
the machine's peak (a large matmul timed in the same run) and the time ratio scratchconv /
TensorFlow, with the targets of issue 6 beside them, and against PyTorch (when installed) and the
faster of the two; for a standard layer each algorithm's time and whether ``algorithm="auto"``
chose the fastest; then the Numba compile cost (first call minus steady state, cache warm or
cold) and the loop-by-loop versions for contrast. ``--cold-warm`` instead times import + first
call in two fresh processes (empty Numba cache, then warm) and ``scratchconv tour``.

    python -m scratchconv bench                                   # the article's layers
    python -m scratchconv bench --set monkeys                     # the 10-monkeys standard layers
    python -m scratchconv bench --shapes 'standard:56x56x64->64' depthwise:28x28x128:s2 --batch 8
    python -m scratchconv bench --quick --json > bench.json
    python -m scratchconv bench --cold-warm

How the timing copes with a noisy machine (interleaved rounds, a probe per round, medians) is
described in ``timing.py``; one layer's items and its row of results in ``measure.py``; the FLOP
counts in ``shapes.py``; TF's side and the thread settings in ``tensorflow_ops.py``, PyTorch's in
``torch_ops.py``.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

from . import env, report, shapes, timing
from .measure import measure_layer, summarize_layer


def add_arguments(parser):
    parser.add_argument("--shapes", nargs="+", metavar="SPEC",
                        help="layers to time instead of the article's, as KIND:HxWxC[->F][:OPTION...], e.g. "
                             "'standard:28x28x32->32' depthwise:14x14x64 'separable:7x7x128->128:k3:s1' "
                             "(quote '->' or write :fF; options kN[xM] sN[xM] dN[xM] mN same valid)")
    parser.add_argument("--set", choices=sorted(shapes.SETS), default="article", dest="layer_set",
                        help="the layers to time: 'article' (default: the Fashion-MNIST network's 11 layers, batch "
                             "32) or 'monkeys' (the 10-monkeys network's standard layers, 128x128 images, batch 64)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 32, 64 with --set monkeys)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="default float32")
    parser.add_argument("--repeats", type=int, default=None,
                        help="interleaved rounds per layer (default 15, 5 with --quick; 7 and 3 with --set monkeys)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds, shorter timed blocks, fewer peak matmuls: a rough table in a fraction "
                             "of the time")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    parser.add_argument("--save", metavar="PATH", help="also write the JSON results to PATH")
    parser.add_argument("--no-tf", action="store_true", help="do not time TensorFlow (no ratios)")
    parser.add_argument("--no-torch", action="store_true", help="do not time PyTorch (timed when it is installed)")
    parser.add_argument("--no-naive", action="store_true", help="skip the loop-by-loop versions")
    parser.add_argument("--naive-batch", type=int, default=1,
                        help="batch of the one call to each loop-by-loop version (default 1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="one thread count for Numba, OpenBLAS and TF intra-op (default: TF gets Numba's "
                             "count, NUMBA_NUM_THREADS or one per core; OpenBLAS keeps its own setting)")
    parser.add_argument("--tf-inter-op", type=int, default=1,
                        help="TF inter-op threads (default 1: one op at a time, each on the Numba thread count)")
    parser.add_argument("--probe-threshold", type=float, default=1.5,
                        help="discard a round when the noise probe around it ran slower than this times its "
                             "median (default 1.5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random arrays (default 0)")
    parser.add_argument("--cold-warm", action="store_true",
                        help="instead: time import + first call in a fresh process with an empty Numba cache, "
                             "then in a second one (warm cache), and `scratchconv tour` the same way")


def _check_args(args):
    specs, batch = shapes.SETS[args.layer_set]
    if args.batch is None:
        args.batch = batch
    if args.batch < 1:
        raise ValueError(f"--batch must be >= 1, got {args.batch}")
    if args.naive_batch < 1:
        raise ValueError(f"--naive-batch must be >= 1, got {args.naive_batch}")
    if args.repeats is not None and args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    if args.threads is not None:
        import numba

        if not 1 <= args.threads <= numba.config.NUMBA_NUM_THREADS:
            raise ValueError(f"--threads must be between 1 and {numba.config.NUMBA_NUM_THREADS} "
                             f"(NUMBA_NUM_THREADS), got {args.threads}")
    if args.tf_inter_op < 0:
        raise ValueError(f"--tf-inter-op must be >= 0, got {args.tf_inter_op}")
    if args.probe_threshold <= 1:
        raise ValueError(f"--probe-threshold must be > 1, got {args.probe_threshold}")
    return shapes.parse_specs(args.shapes or specs)


def _log(message):
    print(message, file=sys.stderr, flush=True)


def _load_average():
    """The 1-minute load average (None where the OS has none): how busy the machine was."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def measure_peak(peak, tf, dtype, quick):
    """Best GFLOP/s of many 512^3 np.matmul (and tf.matmul) calls, merged into ``peak`` (best wins).

    Short products, many times, best one: 512^3 takes 1-2 ms, so on a busy machine some calls run
    without being preempted, while a 2048^3 product (70 ms+) never does. Measured at load 9 on
    this machine, one thread: 512^3 best 121-140 GFLOP/s, 2048^3 best 12 GFLOP/s; two threads
    242 vs 29. On a quiet machine 512^3 already runs at the large-matmul rate.
    """
    size, repeats = peak["matmul_size"], 15 if quick else 40
    found = {"numpy_gflops": timing.numpy_matmul_gflops(size, dtype, repeats)}
    if tf is not None:
        from .tensorflow_ops import matmul_gflops

        found["tf_gflops"] = matmul_gflops(tf, size, dtype.name, repeats)
        timing.settle()
    for key, value in found.items():
        peak[key] = max(peak.get(key, 0.0), value)
    peak["gflops"] = max(peak["numpy_gflops"], peak.get("tf_gflops", 0.0))


def measure_compile(specs, batch, dtype, seed):
    """First call of each kind's forward and backward, before anything else runs them."""
    result = {}
    for spec in specs:
        if spec.kind in result:
            continue
        arrays = shapes.make_arrays(spec, batch, dtype, seed)
        forward, _, backward = shapes.make_calls(spec, arrays)
        before = env.cache_counts()
        forward_s = timing.first_call(forward)
        backward_s = timing.first_call(backward)
        after = env.cache_counts()
        loaded, compiled = after[0] - before[0], after[1] - before[1]
        result[spec.kind] = {"kind": spec.kind, "layer": spec.label, "forward_first_ms": 1e3 * forward_s,
                             "backward_first_ms": 1e3 * backward_s, "kernels_loaded": loaded,
                             "kernels_compiled": compiled, "cache": env.cache_state(loaded, compiled)}
    return result


def measure_naive(specs, rows, batch, dtype, seed):
    """One call of each kind's loop-by-loop forward and backward, on its smallest layer."""
    results = []
    for kind in dict.fromkeys(spec.kind for spec in specs):
        spec = min((s for s in specs if s.kind == kind), key=lambda s: (s.forward_flops(1), s.h * s.w, s.label))
        arrays = shapes.make_arrays(spec, batch, dtype, seed)
        forward, _, backward = shapes.make_calls(spec, arrays, naive=True)
        _log(f"  naive {spec.label} (batch {batch}) ...")
        forward_ms = 1e3 * timing.first_call(forward)
        backward_ms = 1e3 * timing.first_call(backward)
        row = next(r for r in rows if r["layer"] == spec.label)
        fast_forward = row["forward"]["ours"]["ms"] / row["input"][0]
        fast_backward = (row["forward_backward"]["ours"]["ms"] - row["forward"]["ours"]["ms"]) / row["input"][0]
        fast_backward = fast_backward if fast_backward > 0 else None  # lost in the noise (tiny layers)
        results.append({"kind": kind, "layer": spec.label, "batch": batch, "forward_ms": forward_ms,
                        "backward_ms": backward_ms, "forward_per_image_ms": forward_ms / batch,
                        "backward_per_image_ms": backward_ms / batch, "fast_forward_per_image_ms": fast_forward,
                        "fast_backward_per_image_ms": fast_backward,
                        "forward_slowdown": forward_ms / batch / fast_forward,
                        "backward_slowdown": None if fast_backward is None else backward_ms / batch / fast_backward})
    return results


def _command(args):
    """The command line as typed, for the report."""
    argv = getattr(args, "_argv", None)
    if argv is None:
        argv = sys.argv[1:]
        argv = argv[argv.index("bench") + 1:] if "bench" in argv else argv
    return " ".join(["scratchconv bench", *argv])


def run_bench(args, specs):
    """Everything measured, as one JSON-able dict (thread settings restored afterwards)."""
    import numba

    numba_threads, blas_threads = numba.get_num_threads(), env.blas_info()[1]
    try:
        return _run_bench(args, specs)
    finally:
        numba.set_num_threads(numba_threads)
        if args.threads is not None and blas_threads is not None:
            env.set_blas_threads(blas_threads)


def _run_bench(args, specs):
    quick = args.quick
    monkeys = args.layer_set == "monkeys"
    rounds = args.repeats or ((3 if monkeys else 5) if quick else (7 if monkeys else 15))
    block_s, max_calls = (0.003, 20) if quick else (0.010, 50)
    dtype = np.dtype(args.dtype)
    started = time.time()
    load_average = [_load_average()]
    import numba

    # --threads sets one count for all: Numba's, OpenBLAS's (np.matmul in our kernels), TF's intra-op.
    # Without it, Numba's count (NUMBA_NUM_THREADS) is given to TF and OpenBLAS keeps its own setting.
    blas_set = None
    if args.threads is not None:
        numba.set_num_threads(args.threads)
        blas_set = env.set_blas_threads(args.threads)
    threads = numba.get_num_threads()
    # Freed arrays stay in the heap, as in fit (nn/memory.py): TF and PyTorch reuse theirs too, and
    # a 134 MB output faulted in afresh at every call would time the page faults, not the kernel.
    from ..nn.memory import keep_freed_memory

    keep_freed_memory()
    # 1. Numba first, before TF or BLAS threads exist. The first kernel call of a process pays
    # Numba's start-up (1-3 s here, even from the cache): the probe takes it, so that the kinds'
    # first calls below show only their own compile or cache-load time.
    _log("Numba start-up, compiling / loading kernels (first calls) ...")
    probe = timing.Probe()
    compile_info = measure_compile(specs, args.batch, dtype, args.seed)
    # 2. TensorFlow, with as many intra-op threads as Numba uses.
    tf = tf_message = None
    if args.no_tf:
        tf_message = "TensorFlow not timed (--no-tf)"
    else:
        from .tensorflow_ops import load_tensorflow

        tf, tf_message = load_tensorflow(threads, args.tf_inter_op)
    # 2b. PyTorch, when installed, with the same thread count.
    torch = torch_message = None
    if args.no_torch:
        torch_message = "PyTorch not timed (--no-torch)"
    else:
        from .torch_ops import load_torch

        torch, torch_message = load_torch(threads)
    # 3. The machine's peak, in this run.
    _log("peak: large matmul ...")
    peak = {"matmul_size": 512}
    measure_peak(peak, tf, dtype, quick)
    # 4. Every layer, interleaved rounds.
    measured = []
    for spec in specs:
        _log(f"  {spec.label} ...")
        measured.append(measure_layer(spec, args.batch, dtype, args.seed, tf, probe, rounds, block_s, max_calls,
                                      args.probe_threshold, torch))
    probe_quiet = probe.quiet()
    _log("peak again (the best of both counts) ...")
    measure_peak(peak, tf, dtype, quick)
    rows = [summarize_layer(m, args.batch, peak["gflops"], probe_quiet, args.probe_threshold, rounds)
            for m in measured]
    for row in rows:
        info = compile_info[row["kind"]]
        if info["layer"] == row["layer"]:  # the layer whose first calls were timed
            steady_forward = row["forward"]["ours"]["ms"]
            steady_backward = row["forward_backward"]["ours"]["ms"] - steady_forward
            info["forward_compile_ms"] = info["forward_first_ms"] - steady_forward
            info["backward_compile_ms"] = info["backward_first_ms"] - steady_backward
    # 5. The loop-by-loop versions, once each.
    naive = [] if args.no_naive else measure_naive(specs, rows, args.naive_batch, dtype, args.seed)
    load_average.append(_load_average())
    machine = env.machine_info()
    machine["blas_threads_set"] = blas_set
    if tf is not None:
        from .tensorflow_ops import call_overhead_ms, thread_settings

        machine["tensorflow"] = tf.__version__
        machine["tf_intra_op_threads"], machine["tf_inter_op_threads"] = thread_settings(tf)
        machine["tf_call_overhead_ms"] = call_overhead_ms(tf)
    if torch is not None:
        from .torch_ops import thread_settings as torch_threads

        machine["torch"] = torch.__version__
        machine["torch_intra_op_threads"], machine["torch_inter_op_threads"] = torch_threads(torch)
    return {
        "command": _command(args),
        "settings": {"set": args.layer_set, "batch": args.batch, "dtype": args.dtype, "rounds": rounds, "quick": quick,
                     "block_ms": 1e3 * block_s, "max_calls_per_block": max_calls,
                     "probe_threshold": args.probe_threshold, "naive_batch": args.naive_batch, "seed": args.seed},
        "machine": machine,
        "tf_available": tf is not None,
        "tf_message": tf_message,
        "torch_available": torch is not None,
        "torch_message": torch_message,
        "peak": peak,
        "noise": {"probe_quiet_ms": 1e3 * probe_quiet, "probe_median_ms": 1e3 * float(np.median(probe.history)),
                  "probe_min_ms": 1e3 * min(probe.history), "load_average": load_average,
                  "rounds": sum(r["rounds"] for r in rows),
                  "discarded_rounds": sum(r["discarded_rounds"] for r in rows),
                  "noisy_layers": [r["layer"] for r in rows if r["noisy"]]},
        "rows": rows,
        "auto_choice": auto_choice(rows),
        "compile": list(compile_info.values()),
        "numba_startup": {"first_kernel_ms": 1e3 * probe.first_call_s, "cache": probe.first_call_cache},
        "naive": naive,
        "seconds": time.time() - started,
    }


def auto_choice(rows):
    """For each standard layer and pass: the algorithm 'auto' ran, the fastest one measured,
    auto's time over the fastest's (1.0 when auto chose the fastest), and where it did not, the
    rounds in which auto was the slower and the faster, with the sign test's p-value."""
    return [{"layer": row["layer"], "pass": phase, "auto": row[phase].get("auto_algorithm", row["auto_algorithm"]),
             "fastest": row[phase]["fastest_algorithm"], "auto_is_fastest": row[phase]["auto_is_fastest"],
             "auto_over_fastest": row[phase]["auto_over_fastest"],
             "auto_vs_fastest": row[phase].get("auto_vs_fastest")}
            for row in rows if row["algorithms"] for phase in ("forward", "forward_backward")]


def write_json(path, results):
    """Write the results atomically (a temporary file in the same folder, then os.replace)."""
    from .._atomic import write_atomically

    write_atomically(path, lambda f: json.dump(results, f, indent=1), text=True)


def run(args):
    """Entry point of ``scratchconv bench``."""
    try:
        specs = _check_args(args)
    except ValueError as error:
        print(f"scratchconv bench: error: {error}", file=sys.stderr)
        return 2
    if args.cold_warm:
        from . import coldwarm

        results = coldwarm.run_cold_warm(_command(args))
        text = coldwarm.format_cold_warm(results)
    else:
        results = run_bench(args, specs)
        text = report.format_report(results)
    if args.save:
        write_json(args.save, results)
    print(json.dumps(results, indent=1) if args.json else text)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m scratchconv.bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    args._argv = sys.argv[1:] if argv is None else list(argv)
    return run(args)
