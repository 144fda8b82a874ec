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
