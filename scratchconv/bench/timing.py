"""Timing on a noisy shared machine: interleaved rounds, a probe per round, medians.

The rules, and the measurement behind each:

- **Interleave.** Everything compared on one layer (ours forward and forward+backward, for a
  standard layer once per algorithm; TF's and PyTorch's) runs in the same round, round after
  round; odd rounds run them in reverse order, so none always goes first. A slow minute then
  slows every side instead of one.
- **Probe.** Before each round (and after the last) a small fixed matmul, 96x96x96 float32 split
  over the Numba threads, is timed (median of 3). A round is discarded when the probe just before
  or just after it took more than ``threshold`` x the probe's quiet time: for seconds on this kind
  of machine both threads can land on one vCPU, or neighbours take the cores, and a parallel loop
  runs 2-300x slower. The quiet time is the lower quartile of every probe of the run, not the
  median: with ~7 people sharing 2 cores (load average 8-10) Numba's OpenMP pool collapsed for
  most of a run (probe median 24 ms against 0.075 ms quiet), so the median was itself a slow value.
  The probe is a Numba ``prange`` loop rather than ``np.matmul``: it suffers exactly what
  scratchconv's kernels suffer (OpenMP fork/join), and OpenBLAS threads a matmul only from
  128x128 up and then leaves its idle threads spinning for ~0.1 s (measured: 4-9 ms of CPU per
  20 ms afterwards), which would slow the round it is meant to check. Numba's OpenMP threads
  spin ~1 ms.
- **Repeat until clean.** A layer runs rounds until ``rounds`` of them are clean by the quiet time
  known so far, or ``2 x rounds`` have run; the rounds are then judged again against the whole
  run's quiet time. If fewer than a third are clean, the third with the fastest probes is kept and
  the layer is marked noisy.
- **Settle.** Before each timed block, wait (up to 0.3 s) until this process uses < 20% of a core
  over 5 ms, so that threads left spinning by the previous item (OpenBLAS after a matmul, OpenMP
  after a prange) do not land on the next one. Then one untimed call (caches, branch predictors),
  then ``calls`` timed calls, each timed alone. A call of ``LONG_CALL_S`` or more (the monkeys
  layers at batch 64 take 0.1-0.6 s) is timed without the untimed one: what it warms is long
  evicted by the call's own traffic, and it would double the run.
- **Medians, and the best.** A row's time is the median over every timed call of its kept rounds
  (the targets use it); quartiles and the minimum are kept too, and the report adds the ratio of
  the minima. On a busy machine a call that is preempted waits whole scheduler slices: at load 10
  on 2 cores, one thread alone in its process (no thread pools at all), separable 14x14x64 forward
  took min 3.4 / median 29-51 ms while its two parts, 0.7 and 0.9 ms, each ran at min ~= median:
  a call near the ~3 ms slice is preempted most times, a 1 ms one rarely. The probe, at 0.08 ms,
  is too short to be preempted often, so it cannot catch this. Preemption only adds time, so the
  minimum is then the better estimate of what the code costs; on a quiet machine the two agree.
- **Round by round.** Whether one item is really slower than another, and not a slow minute's
  doing, is asked round by round (``paired_rounds``): in how many kept rounds its median call was
  the slower one, and the sign test's p-value of that count. Two items within a few percent come
  out either way in the medians from run to run; the count says how sure the order is.
"""

import math
import time

import numba
import numpy as np

from ..kernels.numba_config import kernel, prange

PROBE_SIZE = 96


@kernel
def _probe_matmul(out, a, b):
    """out = a @ b by rows, split over the Numba threads: the noise probe (see the module docstring)."""
    for i in prange(a.shape[0]):
        for j in range(b.shape[1]):
            out[i, j] = 0.0
        for k in range(a.shape[1]):
            aik = a[i, k]
            for j in range(b.shape[1]):
                out[i, j] += aik * b[k, j]


class Probe:
    """The small fixed matmul timed around every round."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.a = rng.standard_normal((PROBE_SIZE, PROBE_SIZE)).astype(np.float32)  # (96, 96)
        self.out = np.empty_like(self.a)  # (96, 96)
        # With NUMBA_DISABLE_JIT=1 the loop would run in Python (~1 s); OpenBLAS does 96^3 on one thread.
        self.jit = not numba.config.DISABLE_JIT
        start = time.perf_counter()
        self._once()  # compile, or load from the cache
        self.first_call_s = time.perf_counter() - start
        stats = _probe_matmul.stats if self.jit else None
        self.first_call_cache = ("jit disabled" if stats is None else "warm" if sum(stats.cache_hits.values())
                                 else "cold" if sum(stats.cache_misses.values()) else "none new")
        self.history = []
        for _ in range(10):  # a first idea of the quiet time
            self()

    def _once(self):
        if self.jit:
            _probe_matmul(self.out, self.a, self.a)
        else:
            np.matmul(self.a, self.a, out=self.out)

    def __call__(self):
        """Seconds one probe takes now (median of 3); remembered in ``history``."""
        times = []
        for _ in range(3):
            start = time.perf_counter()
            self._once()
            times.append(time.perf_counter() - start)
        self.history.append(sorted(times)[1])
        return self.history[-1]

    def quiet(self):
        """The probe's quiet time: the lower quartile of every probe so far."""
        return float(np.percentile(self.history, 25))


def settle(max_wait=0.3, slice_s=0.005, busy=0.2):
    """Sleep until this process uses < ``busy`` of a core over ``slice_s``; seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < max_wait:
        cpu = time.process_time()
        time.sleep(slice_s)
        if time.process_time() - cpu < busy * slice_s:
            break
    return time.perf_counter() - start


LONG_CALL_S = 0.05


def median_call(fn):
    """Seconds of one call of fn (the median of 3)."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[1]


def block_calls(call_s, block_s, max_calls):
    """How many calls of ``call_s`` seconds make a timed block of about ``block_s`` seconds."""
    return int(min(max_calls, max(1, round(block_s / max(call_s, 1e-7)))))


def calls_per_block(fn, block_s, max_calls):
    """How many calls make a timed block of about ``block_s`` seconds (fn is called 3 times)."""
    return block_calls(median_call(fn), block_s, max_calls)


def time_block(fn, calls, warm_up=True):
    """settle, one untimed call (unless warm_up is False), then ``calls`` calls timed one by one:
    list of seconds."""
    settle()
    if warm_up:
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def run_rounds(items, probe, rounds, block_s, max_calls, threshold):
    """Time ``items`` ({name: fn}, the things compared on one layer) round-robin.

    Runs rounds until ``rounds`` are clean (probe before and after <= threshold x
    ``probe.quiet()``) or ``2 * rounds`` have run. Odd rounds run the items in reverse order.
    Returns {"probes": [one more than rounds run, seconds], "calls": {name: n},
    "times": {name: [[seconds of each call] per round]}}.
    """
    names = list(items)
    call_s = {name: median_call(items[name]) for name in names}
    calls = {name: block_calls(call_s[name], block_s, max_calls) for name in names}
    times = {name: [] for name in names}
    probes = [probe()]
    clean = 0
    for r in range(2 * rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            times[name].append(time_block(items[name], calls[name], call_s[name] < LONG_CALL_S))
        probes.append(probe())
        clean += max(probes[-2], probes[-1]) <= threshold * probe.quiet()
        if clean >= rounds:
            break
    return {"probes": probes, "calls": calls, "times": times}


def kept_rounds(probes, reference, threshold, minimum):
    """(indices of the rounds whose probes before and after are within threshold x reference, noisy).

    When fewer than ``minimum`` rounds pass, the ``minimum`` rounds with the fastest probes are kept
    instead and ``noisy`` is True.
    """
    rounds = len(probes) - 1
    worst = [max(probes[r], probes[r + 1]) for r in range(rounds)]
    kept = [r for r in range(rounds) if worst[r] <= threshold * reference]
    if len(kept) < min(minimum, rounds):
        return sorted(sorted(range(rounds), key=worst.__getitem__)[:minimum]), True
    return kept, False


def summarize(per_round, kept):
    """Median, quartiles and minimum (ms) over every call in the kept rounds."""
    values = np.array([t for r in kept for t in per_round[r]]) * 1e3
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"ms": float(median), "q1_ms": float(q1), "q3_ms": float(q3), "min_ms": float(values.min()),
            "calls": int(values.size)}


def sign_test(k, n):
    """Two-sided p-value of k successes in n fair coin flips (the sign test): the chance of a count
    at least as far from n/2 as k. 1.0 for n = 0."""
    if not 0 <= k <= n:
        raise ValueError(f"k must lie in 0..n, got k={k}, n={n}")
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_rounds(per_round_a, per_round_b, kept):
    """a against b round by round: (rounds where a's median call was slower, rounds where it was
    faster, the sign test's p-value of that split; ties count for neither)."""
    slower = faster = 0
    for r in kept:
        a, b = np.median(per_round_a[r]), np.median(per_round_b[r])
        slower, faster = slower + (a > b), faster + (a < b)
    return int(slower), int(faster), sign_test(int(slower), int(slower + faster))


def first_call(fn):
    """Seconds of one call (used for the first, compiling call)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def numpy_matmul_gflops(n, dtype, repeats):
    """Best GFLOP/s of ``repeats`` n x n x n np.matmul calls (2 n^3 FLOPs); settles after (OpenBLAS spins)."""
    a = np.random.default_rng(1).standard_normal((n, n)).astype(dtype)  # (n, n)
    out = np.empty_like(a)  # (n, n)
    np.matmul(a, a, out=out)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, a, out=out)
        best = min(best, time.perf_counter() - start)
    settle()
    return 2 * n**3 / best / 1e9
