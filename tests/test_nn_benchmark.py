"""The training-throughput benchmark runs and reports both libraries (a smoke test: no timing asserts)."""

from scratchconv.nn import benchmark


def test_benchmark_runs_both_libraries_side_by_side():
    results = benchmark.run(models=("separable",), batch_size=8, samples=16, rounds=2, threads=1)
    separable = results["separable"]
    for library in ("scratchconv", "keras"):
        assert separable[library]["samples_per_s"] > 0
        assert separable[library]["peak_mb"] >= separable[library]["baseline_mb"] > 0
    assert separable["ratio"] == separable["scratchconv"]["samples_per_s"] / separable["keras"]["samples_per_s"]
    table = benchmark.format_table(results, 8, 16, 2, 1)
    assert "separable  scratchconv" in table and "separable  keras" in table


def test_ratios_by_hand():
    # Keras bimodal (two slow rounds at half speed): the faster half is its rounds 100, 110, 120.
    got = benchmark.ratios([100, 100, 110, 90, 100], [50, 100, 55, 110, 120])
    assert got["ratio"] == 100 / 100
    assert got["ratio_per_round"] == 1.0  # the per-round ratios 2, 1, 2, 0.818, 0.833
    assert got["ratio_faster_half"] == 100 / 110
