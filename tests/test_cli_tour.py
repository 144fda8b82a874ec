"""`scratchconv tour` and the command line, run as a user would run them."""

import subprocess
import sys

import pytest

from scratchconv import cli
from scratchconv.cli import tour


def test_tour_reproduces_the_article_and_agrees_with_keras(capsys):
    assert tour.main_tour(seed=0) == 0
    out = capsys.readouterr().out
    # The article's numbers, derived by hand in its text.
    for expected in ("= 108", "= 27", "= 12", "= 39", "435,306", "184,234"):
        assert expected in out, expected
    # Output shapes with 'same' and 'valid' padding.
    assert "(5, 5, 3) -> (5, 5, 4)" in out
    assert "(5, 5, 3) -> (3, 3, 4)" in out
    assert "Numba vs Keras" in out  # TensorFlow is installed in the test environment: the check ran


def test_tour_float64():
    assert tour.main_tour(seed=3, dtype="float64") == 0


def test_tour_without_tensorflow_says_how_to_enable_it():
    # sys.modules[name] = None makes `import name` raise ImportError, as on a machine without TF.
    code = (
        "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None;"
        "from scratchconv.cli import main; sys.exit(main(['tour']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'scratchconv[keras]'" in proc.stdout
    assert "Numba vs Keras" not in proc.stdout


def test_console_script_help_lists_every_command():
    proc = subprocess.run([sys.executable, "-m", "scratchconv", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    for name, *_ in cli.COMMANDS:
        assert name in proc.stdout


def test_unknown_command_is_an_error():
    with pytest.raises(SystemExit) as info:
        cli.main(["no-such-command"])
    assert info.value.code == 2
