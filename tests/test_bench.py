"""`scratchconv bench`: the spec syntax, the FLOP counts, and a smoke run of the whole command.

No timing is asserted (speed is read from the printed table, never tested): the smoke runs use
tiny layers and check that every field is there and sane.
"""

import json
import subprocess
import sys

import pytest
import tensorflow  # noqa: F401  (the ratio checks need TF; CI installs it, so no skip)

from scratchconv import bench
from scratchconv.bench import coldwarm
from scratchconv.bench.shapes import LayerSpec, parse_spec, parse_specs

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
    out = _run_bench(["--quick", "--json", "--repeats", "2", "--batch", "2", "--save", str(saved),
                      "--shapes", *TINY], capsys)
    results = json.loads(out)
    assert json.loads(saved.read_text()) == results
    for key in ("command", "settings", "machine", "tf_available", "tf_message", "peak", "noise", "rows",
                "compile", "numba_startup", "naive", "seconds"):
        assert key in results, key
    assert results["tf_available"] is True
    assert results["peak"]["gflops"] > 0 and results["peak"]["tf_gflops"] > 0
    assert results["machine"]["tf_call_overhead_ms"] > 0
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


def test_without_tensorflow_prints_our_numbers_and_how_to_get_ratios():
    # sys.modules[name] = None makes `import name` raise ImportError, as on a machine without TF.
    code = ("import sys; sys.modules['tensorflow'] = None;"
            "from scratchconv.bench import main;"
            "sys.exit(main(['--quick', '--repeats', '1', '--batch', '2', '--no-naive', '--shapes', 'pointwise:4x4x3->2']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "pointwise:4x4x3->2" in proc.stdout
    assert "pip install 'scratchconv[keras]'" in proc.stdout


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
