"""docs/debugging.md's recipes, run as the page shows them: pdb driven non-interactively stops
where the page says and prints what it says.

The page marks its pieces with HTML comments: ``<!-- test: step.py -->`` before the script to
save, ``<!-- test: session -->`` before a console transcript. In a transcript, ``$ ...`` is the
command, ``(Pdb) CMD`` a command typed at pdb's prompt, and every other line output that must
appear, in order, after that prompt (``...`` matches anything; lines the page leaves out may
appear in between).
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "debugging.md"
BLOCK = re.compile(r"<!-- test: (?P<kind>[\w.]+) -->\s*```\w*\n(?P<body>.*?)```", re.S)


def page_blocks():
    return [(m["kind"], m["body"]) for m in BLOCK.finditer(PAGE.read_text())]


def sessions():
    return [body for kind, body in page_blocks() if kind == "session"]


def parse_session(body):
    """(environment, argv, pdb commands, expected lines after each prompt; [0] before the first)."""
    lines = body.rstrip("\n").splitlines()
    assert lines[0].startswith("$ "), lines[0]
    words = shlex.split(lines[0][2:])
    env = dict(w.split("=", 1) for w in words if re.fullmatch(r"[A-Z_]+=\S*", w))
    argv = [w for w in words if not re.fullmatch(r"[A-Z_]+=\S*", w)]
    assert argv[0] == "python", argv
    commands, expected = [], [[]]
    for line in lines[1:]:
        if line.startswith("(Pdb) "):
            commands.append(line[len("(Pdb) "):])
            expected.append([])
        else:
            expected[-1].append(line)
    return env, [sys.executable, *argv[1:]], commands, expected


def pattern(line):
    return re.compile(".*".join(re.escape(part) for part in line.rstrip().split("...")))


def appears_in_order(expected, actual):
    """The first expected line not found (in order, each matching a whole actual line), or None."""
    position = 0
    for want in expected:
        regex = pattern(want)
        while position < len(actual) and not regex.fullmatch(actual[position].rstrip()):
            position += 1
        if position == len(actual):
            return want
        position += 1
    return None


def test_the_page_has_its_recipes():
    kinds = [kind for kind, _ in page_blocks()]
    assert kinds.count("step.py") == 1 and len(sessions()) >= 3, kinds


def test_matching_is_strict_enough():
    assert appears_in_order(["a ... c", "d"], ["x", "a b c", "d"]) is None
    assert appears_in_order(["d", "a ... c"], ["a b c", "d"]) == "a ... c"
    assert appears_in_order(["(1, 5)"], ["(1, 5, 3)"]) == "(1, 5)"


@pytest.mark.parametrize("index", range(len(sessions())))
def test_session(tmp_path, index):
    script = next(body for kind, body in page_blocks() if kind == "step.py")
    (tmp_path / "step.py").write_text(script)
    extra_env, argv, commands, expected = parse_session(sessions()[index])
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    env.update(extra_env)
    done = subprocess.run(argv, input="\n".join(commands) + "\n", capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)  # tmp_path: the page says it works from any folder
    assert "Traceback" not in done.stderr, done.stderr
    # pdb prints its prompt without a newline: what follows the k-th prompt answers the k-th command
    answers = done.stdout.split("(Pdb) ")
    assert len(answers) >= len(commands) + 1, done.stdout
    for k, want in enumerate(expected):
        missing = appears_in_order(want, answers[k].splitlines())
        typed = "the start" if k == 0 else f"(Pdb) {commands[k - 1]}"
        assert missing is None, f"after {typed}: expected {missing!r} in\n{answers[k]}\n--- whole output:\n{done.stdout}"
