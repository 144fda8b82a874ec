"""`scratchconv bench`: the spec syntax, the FLOP counts, and a smoke run of the whole command.

No timing is asserted (speed is read from the printed table, never tested): the smoke runs use
tiny layers and check that every field is there and sane.
"""

import argparse
import importlib
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow  # noqa: F401  (the ratio checks need TF; CI installs it, so no skip)

from scratchconv import bench
from scratchconv.bench import coldwarm, report, shapes, timing
from scratchconv.bench.shapes import LayerSpec, parse_spec, parse_specs

main = importlib.import_module("scratchconv.bench.main")  # the module (the package exports its main function)
TINY = ["standard:6x6x4->4", "depthwise:6x6x4", "pointwise:6x6x4->4", "separable:5x7x4->6:m2"]


def test_parse_spec_reads_every_form():
    assert parse_spec("standard:28x28x32->32") == LayerSpec("standard", 28, 28, 32, 32)
    assert parse_spec("standard:28x28x32:f32") == LayerSpec("standard", 28, 28, 32, 32)  # shell-safe form
    assert parse_spec("depthwise:14x14x64") == LayerSpec("depthwise", 14, 14, 64, None)
    assert parse_spec("separable:7x7x128->128:k3:s1") == LayerSpec("separable", 7, 7, 128, 128)
    spec = parse_spec("Depthwise:9x10x8:k5x3:s2x1:d2:m3:valid")
    assert (spec.kh, spec.kw, spec.sh, spec.sw, spec.dh, spec.dw, spec.multiplier, spec.padding) == (
        5, 3, 2, 1, 2, 2, 3, "valid")
    assert spec.label == "depthwise:9x10x8:k5x3:s2x1:d2:m3:valid"
    assert parse_spec(spec.label) == spec  # the label reads back
    assert parse_spec("pointwise:7x7x128->64") == LayerSpec("pointwise", 7, 7, 128, 64, kh=1, kw=1)
    assert len(parse_specs(["standard:4x4x2->2,depthwise:4x4x2", "pointwise:4x4x2->3"])) == 3


@pytest.mark.parametrize("text, words", [
    ("standard:28x28x32", "needs the number of outputs"),
    ("depthwise:14x14x64->64", "multiplier"),
    ("conv:28x28x32->32", "kind must be one of"),
    ("standard:28x28->32", "does not read"),
    ("standard:28x28x32->32:q3", "unknown option"),
    ("pointwise:7x7x8->8:k3", "always 1x1"),
    ("standard:0x28x32->32", ">= 1"),
    ("standard:2x2x3->3:k5:valid", "output would be empty"),
])
def test_parse_spec_rejects_bad_specs_saying_why(text, words):
    with pytest.raises(ValueError, match=words):
        parse_spec(text)


def test_flop_counts_match_hand_derivations():
    # Worked by hand, batch 32, 'same' so H_out = H: 2 FLOPs per multiply-add.
    # standard 28x28 32->32: 32 images * 784 pixels * (3*3*32 inputs) * 32 filters * 2 = 462,422,016
    assert parse_spec("standard:28x28x32->32").flops(32) == {"forward": 462_422_016,
                                                             "forward_backward": 3 * 462_422_016}
    # depthwise 14x14x64: 32 * 196 * 9 * 64 * 2 = 7,225,344
    assert parse_spec("depthwise:14x14x64").forward_flops(32) == 7_225_344
    # pointwise 7x7 128->128: 32 * 49 * 128 * 128 * 2 = 51,380,224
    assert parse_spec("pointwise:7x7x128->128").forward_flops(32) == 51_380_224
    # separable = its depthwise + its pointwise: 32 * 49 * (9*128 + 128*128) * 2
    assert parse_spec("separable:7x7x128->128").forward_flops(32) == 32 * 49 * (9 * 128 + 128 * 128) * 2
    # stride 2, 'valid', multiplier 2: 9x9 -> 4x4 outputs, 3*3 taps, 4 channels * 2
    assert parse_spec("depthwise:9x9x4:s2:m2:valid").forward_flops(1) == 16 * 9 * 8 * 2


def _run_bench(argv, capsys):
    assert bench.main(argv) == 0
    return capsys.readouterr().out


def test_smoke_json_has_every_field_and_positive_ratios(capsys, tmp_path):
    saved = tmp_path / "bench.json"
    out = _run_bench(["--quick", "--json", "--repeats", "2", "--batch", "2", "--save", str(saved), "--no-torch",
                      "--shapes", *TINY], capsys)
    results = json.loads(out)
    assert json.loads(saved.read_text()) == results
    for key in ("command", "settings", "machine", "tf_available", "tf_message", "torch_available", "torch_message",
                "peak", "noise", "rows", "auto_choice", "compile", "numba_startup", "naive", "seconds"):
        assert key in results, key
    assert results["tf_available"] is True
    assert results["torch_available"] is False and "--no-torch" in results["torch_message"]
    assert results["settings"]["set"] == "article"
    assert results["peak"]["gflops"] > 0 and results["peak"]["tf_gflops"] > 0
    assert results["machine"]["tf_call_overhead_ms"] > 0
    assert isinstance(results["machine"]["blas_core"], str)
    assert [row["layer"] for row in results["rows"]] == TINY
    for row in results["rows"]:
        assert row["tf_error"] is None
        assert row["max_rel_diff_vs_tf"] < 1e-4  # ours and TF computed the same layer
        # 2 clean rounds wanted; on a busy machine up to 2 x 2 run, and at least a third kept
        assert row["kept_rounds"] + row["discarded_rounds"] == row["rounds"] and 2 <= row["rounds"] <= 4
        assert row["kept_rounds"] >= 1
        assert row["flops"]["forward_backward"] == 3 * row["flops"]["forward"] > 0
        for phase in ("forward", "forward_backward"):
            entry = row[phase]
            for side in ("ours", "tf"):
                stats = entry[side]
                assert 0 < stats["min_ms"] <= stats["q1_ms"] <= stats["ms"] <= stats["q3_ms"]
                assert stats["gflops"] > 0 and stats["peak_share"] > 0 and stats["calls"] >= 1
            assert entry["ratio"] > 0 and entry["ratio_best"] > 0
            assert entry["ratio"] == pytest.approx(entry["ours"]["ms"] / entry["tf"]["ms"])
            assert isinstance(entry["met"], bool) and entry["target"] > 0
            assert entry["torch"] is None and entry["ratio_torch"] is None
            assert entry["peer"] == "tf" and entry["ratio_peer"] == entry["ratio"]  # TF is the only peer here
    # the standard layer: every algorithm timed, 'auto' among them, its time the row's
    standard = results["rows"][0]
    assert standard["algorithms"] == ["rows", "im2col", "winograd"]
    assert standard["auto_algorithm"] in standard["algorithms"]
    assert all(not row["algorithms"] and row["auto_algorithm"] is None for row in results["rows"][1:])
    for phase in ("forward", "forward_backward"):
        entry = standard[phase]
        assert set(entry["algorithms"]) == {"rows", "im2col", "winograd"}
        for stats in entry["algorithms"].values():
            assert 0 < stats["min_ms"] <= stats["ms"] and stats["ratio"] == pytest.approx(stats["ms"] / entry["tf"]["ms"])
        assert entry["ours"] == {k: v for k, v in entry["algorithms"][standard["auto_algorithm"]].items()
                                 if k in entry["ours"]}
        fastest = min(entry["algorithms"], key=lambda a: entry["algorithms"][a]["ms"])
        assert entry["fastest_algorithm"] == fastest
        assert entry["auto_is_fastest"] == (standard["auto_algorithm"] == fastest)
        assert entry["auto_over_fastest"] >= 1.0
        paired = entry["auto_vs_fastest"]
        if entry["auto_is_fastest"]:
            assert paired is None
        else:  # counted over the kept rounds
            assert paired["slower_rounds"] + paired["faster_rounds"] <= standard["kept_rounds"]
            assert 0 < paired["p_value"] <= 1
    assert [(c["layer"], c["pass"]) for c in results["auto_choice"]] == [(TINY[0], "forward"),
                                                                         (TINY[0], "forward_backward")]
    assert {c["kind"] for c in results["compile"]} == {"standard", "depthwise", "pointwise", "separable"}
    for c in results["compile"]:
        assert c["forward_first_ms"] > 0 and c["backward_first_ms"] > 0 and "forward_compile_ms" in c
        assert c["cache"] in ("warm", "cold", "partial", "none new")
    assert results["numba_startup"]["first_kernel_ms"] > 0
    assert len(results["naive"]) == 4
    for n in results["naive"]:
        assert n["batch"] == 1 and n["forward_ms"] > 0 and n["backward_ms"] > 0 and n["forward_slowdown"] > 0


def test_table_output_names_the_targets(capsys):
    out = _run_bench(["--quick", "--repeats", "1", "--batch", "2", "--no-naive", "--threads", "1",
                      "--shapes", TINY[1]], capsys)
    assert "depthwise:6x6x4" in out and "ratio" in out
    assert "Numba 1 " in out and "TF intra-op" in out  # --threads: one count for Numba, OpenBLAS and TF
    assert "depthwise fwd+bwd <= 0.50" in out and "depthwise fwd     <= 1.25" in out
    assert "scratchconv bench --quick" in out
    assert "torch ms" in out and "/peer" in out


def test_table_prints_each_standard_algorithm_and_auto_s_choice(capsys):
    out = _run_bench(["--quick", "--repeats", "1", "--batch", "2", "--no-naive", "--no-torch",
                      "--shapes", "standard:6x6x4:f4", "standard:9x9x4:f3:s2"], capsys)
    assert "standard layers by algorithm" in out
    assert "auto chose the fastest algorithm measured on" in out and "of 4 (layer, pass)" in out
    assert "no PyTorch ratios: PyTorch not timed (--no-torch)" in out
    lines = [line for line in out.splitlines() if line.startswith("  standard:9x9x4->3:s2")]
    assert len(lines) == 1 and "  im2col    " in lines[0]  # auto: column strides go to im2col
    assert lines[0].split()[6] == "-"  # no Winograd at stride 2 (after rows and im2col: ms and ratio each)


def test_algorithm_table_names_where_auto_was_not_the_fastest():
    def phase(auto_ms, fastest, paired=None):
        stats = {name: {"ms": ms, "ratio_peer": ms / 2.0} for name, ms in (("rows", 3.0), ("im2col", 4.0))}
        return {"algorithms": stats, "fastest_algorithm": fastest, "auto_is_fastest": fastest == "im2col",
                "auto_over_fastest": auto_ms / stats[fastest]["ms"], "auto_vs_fastest": paired}

    rows = [{"layer": "standard:8x8x8->8", "algorithms": ["rows", "im2col"], "auto_algorithm": "im2col",
             "forward": phase(4.0, "rows", {"slower_rounds": 10, "faster_rounds": 0, "p_value": 2 / 1024}),
             "forward_backward": phase(4.0, "rows", {"slower_rounds": 6, "faster_rounds": 4, "p_value": 0.754})}]
    text = "\n".join(report.algorithm_table({"rows": rows, "auto_choice": main.auto_choice(rows)}))
    assert "3.000 (1.50)" in text and "4.000 (2.00)" in text and "auto not the fastest" in text
    assert ("on 0 of 2 (layer, pass); not on: standard:8x8x8->8 fwd (im2col 1.33x rows, slower in 10 of 10 "
            "rounds, p = 0.002), standard:8x8x8->8 fwd+bwd (im2col 1.33x rows, slower in 6 of 10 rounds, "
            "p = 0.75)") in text
    assert "auto slower with p < 0.05 on 1 of 2, the rest within the run's noise" in text


def test_sign_test_and_paired_rounds():
    # by hand: 0 of 10 is as far from 5 as 10 of 10, each 1/1024
    assert timing.sign_test(0, 10) == pytest.approx(2 / 1024) and timing.sign_test(10, 10) == pytest.approx(2 / 1024)
    assert timing.sign_test(1, 10) == pytest.approx(2 * 11 / 1024)  # 0 or 1, and 9 or 10
    assert timing.sign_test(5, 10) == 1.0 and timing.sign_test(0, 0) == 1.0 and timing.sign_test(0, 1) == 1.0
    with pytest.raises(ValueError, match="k must lie in 0..n"):
        timing.sign_test(3, 2)
    a = [[2.0, 2.0, 9.0], [1.0], [3.0], [5.0], [4.0]]  # per round, seconds of each call
    b = [[1.0, 3.0, 1.0], [1.0], [2.0], [6.0], [0.0]]
    # kept rounds 0, 1, 2, 3: a's medians 2, 1, 3, 5 against 1, 1, 2, 6: slower twice, faster once, a tie
    assert timing.paired_rounds(a, b, [0, 1, 2, 3]) == (2, 1, 1.0)
    assert timing.paired_rounds(a, b, [0, 2, 4]) == (3, 0, pytest.approx(0.25))


def test_blas_core_is_reported_and_a_forced_weaker_one_warned_about():
    from scratchconv.bench import env

    core = env.blas_core()
    assert isinstance(core, str) and core  # numpy's wheels bundle OpenBLAS, which names its kernel set
    warning = env.blas_core_warning("Haswell", "Haswell", {"avx2", "avx512f"})
    assert "OPENBLAS_CORETYPE=Haswell" in warning and "AVX-512" in warning
    assert env.blas_core_warning("SkylakeX", "SkylakeX", {"avx512f"}) is None  # AVX-512 kernels: nothing lost
    assert env.blas_core_warning("Haswell", "Haswell", {"avx2"}) is None  # the CPU has no AVX-512
    assert env.blas_core_warning("Haswell", "", {"avx512f"}) is None  # OpenBLAS's own choice
    machine = dict(env.machine_info(), blas_core="Haswell", blas_core_warning=warning)
    results = {"command": "scratchconv bench", "machine": machine, "peak": {"matmul_size": 512, "numpy_gflops": 1.0,
               "gflops": 1.0}, "settings": {"batch": 2, "dtype": "float32", "rounds": 2, "quick": True,
               "probe_threshold": 1.5}, "noise": {"load_average": [], "discarded_rounds": 0, "rounds": 2,
               "probe_quiet_ms": 0.1, "probe_median_ms": 0.1, "noisy_layers": []}}
    lines = report.header(results)
    assert any("(Haswell kernels)" in line for line in lines)
    assert "WARNING: " + warning in lines


def test_sets_choose_layers_and_batch():
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--set", "monkeys"])
    specs = main._check_args(args)
    assert [s.label for s in specs] == ["standard:128x128x3->32", "standard:128x128x32->32",
                                        "standard:64x64x64->64", "standard:32x32x128->128"]
    assert args.batch == 64
    args = parser.parse_args(["--set", "monkeys", "--batch", "2"])
    assert main._check_args(args) and args.batch == 2
    args = parser.parse_args([])
    assert [s.label for s in main._check_args(args)] == list(shapes.DEFAULT_SPECS) and args.batch == 32
    with pytest.raises(SystemExit):
        parser.parse_args(["--set", "cifar"])


def test_standard_algorithms_and_auto():
    assert shapes.standard_algorithms(parse_spec("standard:8x8x4->4")) == ("rows", "im2col", "winograd")
    assert shapes.standard_algorithms(parse_spec("standard:8x8x4->4:s2")) == ("rows", "im2col")
    assert shapes.standard_algorithms(parse_spec("standard:8x8x4->4:k5")) == ("rows", "im2col")
    assert shapes.standard_algorithms(parse_spec("depthwise:8x8x4")) == ()
    first = parse_spec("standard:28x28x1->32")  # a first layer: few input channels for the filters
    assert shapes.auto_algorithm(first, shapes.make_arrays(first, 2, np.float32)) == "im2col"
    spec = parse_spec("standard:8x8x64->64")
    arrays = shapes.make_arrays(spec, 2, np.float32)
    y = shapes.make_calls(spec, arrays)[0]()
    for algorithm in shapes.standard_algorithms(spec):  # forcing each one computes the same layer
        np.testing.assert_allclose(shapes.make_calls(spec, arrays, algorithm=algorithm)[0](), y, rtol=1e-4, atol=1e-4)


def test_without_tensorflow_or_torch_prints_our_numbers_and_how_to_get_ratios():
    # sys.modules[name] = None makes `import name` raise ImportError, as on a machine without TF or PyTorch.
    code = ("import sys; sys.modules['tensorflow'] = None; sys.modules['torch'] = None;"
            "from scratchconv.bench import main;"
            "sys.exit(main(['--quick', '--repeats', '1', '--batch', '2', '--no-naive', '--shapes', 'pointwise:4x4x3->2',"
            " 'standard:5x5x2->3']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "pointwise:4x4x3->2" in proc.stdout and "standard layers by algorithm" in proc.stdout
    assert "pip install 'scratchconv[keras]'" in proc.stdout
    assert "pip install 'scratchconv[bench]'" in proc.stdout


TORCH_SPECS = ["standard:6x7x4->5:k2", "standard:9x9x4->3:s2", "depthwise:6x6x4:m2", "depthwise:8x8x4:s2",
               "pointwise:6x6x4->4", "separable:5x7x4->6:m2", "separable:8x8x4->6:s2:k4"]


def test_torch_computes_the_same_layers_in_both_memory_formats():
    # PyTorch only: the comparison is optional (pip install 'scratchconv[bench]'), so CI may skip this one.
    torch = pytest.importorskip("torch")
    from scratchconv.bench import torch_ops
    from scratchconv.bench.measure import max_rel_diff

    assert torch_ops.load_torch(1)[0] is torch and torch.get_num_threads() == 1
    for text in TORCH_SPECS:  # asymmetric 'same' padding (even kernel, strides) goes through F.pad
        spec = parse_spec(text)
        arrays = shapes.make_arrays(spec, 2, np.float32)
        ours = shapes.make_calls(spec, arrays)[1]()
        for fmt in torch_ops.FORMATS:
            forward, forward_backward, keras_layout = torch_ops.make_torch_calls(torch, spec, arrays, fmt)
            theirs = keras_layout(forward_backward())
            assert [a.shape for a in theirs] == [a.shape for a in ours], text
            assert max_rel_diff(ours, theirs) < 1e-5, (text, fmt)
            assert max_rel_diff(ours[:1], keras_layout([forward()])) < 1e-5, (text, fmt)
            assert max_rel_diff(ours, keras_layout(forward_backward())) < 1e-5  # no gradient accumulated


def test_torch_columns_in_json_and_table(capsys):
    pytest.importorskip("torch")
    out = _run_bench(["--quick", "--json", "--repeats", "1", "--batch", "2", "--no-naive", "--threads", "1",
                      "--shapes", "standard:6x6x4:f4", "depthwise:6x6x4"], capsys)
    results = json.loads(out)
    assert results["torch_available"] is True and results["torch_message"] is None
    assert results["machine"]["torch_intra_op_threads"] == 1 and results["machine"]["torch"]
    for row in results["rows"]:
        assert row["torch_error"] is None and row["max_rel_diff_vs_torch"] < 1e-4
        for phase in ("forward", "forward_backward"):
            entry = row[phase]
            assert row["torch_formats"][phase] == entry["torch_format"] in ("nchw", "channels_last")
            assert min(row["torch_format_ms"][phase].values()) == row["torch_format_ms"][phase][entry["torch_format"]]
            assert entry["torch"]["ms"] > 0
            assert entry["ratio_torch"] == pytest.approx(entry["ours"]["ms"] / entry["torch"]["ms"])
            peer = min(("tf", "torch"), key=lambda p: entry[p]["ms"])
            assert entry["peer"] == peer and entry["ratio_peer"] == pytest.approx(entry["ours"]["ms"] / entry[peer]["ms"])
            for stats in entry.get("algorithms", {}).values():
                assert stats["ratio_torch"] == pytest.approx(stats["ms"] / entry["torch"]["ms"])
    assert _run_bench(["--quick", "--repeats", "1", "--batch", "2", "--no-naive", "--threads", "1",
                       "--shapes", "pointwise:4x4x2:f2"], capsys).count("torch") >= 3


def test_importing_bench_does_not_import_tensorflow():
    code = "import sys, scratchconv.bench; print('tensorflow' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_bad_arguments_fail_before_anything_runs(capsys):
    assert bench.main(["--shapes", "standard:28x28x32"]) == 2
    assert "needs the number of outputs" in capsys.readouterr().err
    assert bench.main(["--batch", "0"]) == 2
    assert "--batch must be >= 1" in capsys.readouterr().err
    assert bench.main(["--threads", "0"]) == 2
    assert "--threads must be between 1" in capsys.readouterr().err


def test_a_second_process_loads_every_kernel_from_the_cache_and_compiles_none(tmp_path):
    # issue 6: "with cache=True, a second process pays no recompilation". Two real processes share
    # a new, empty NUMBA_CACHE_DIR: the first compiles every kernel, the second loads them all.
    reports = coldwarm.kernel_processes(str(tmp_path), timeout=900)
    cold, warm = reports["cold"], reports["warm"]
    assert set(cold["kinds"]) == set(warm["kinds"]) == {"standard", "depthwise", "pointwise", "separable"}
    assert sum(k["compiled"] for k in cold["kinds"].values()) > 0
    assert sum(k["loaded"] for k in cold["kinds"].values()) == 0
    assert sum(k["compiled"] for k in warm["kinds"].values()) == 0
    assert sum(k["loaded"] for k in warm["kinds"].values()) == sum(k["compiled"] for k in cold["kinds"].values())
    text = coldwarm.format_cold_warm({"command": "scratchconv bench --cold-warm", "kernels": reports, "tour": {}})
    assert "  cold " in text and "  warm " in text
