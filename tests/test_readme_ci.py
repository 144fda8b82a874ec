"""The README's promises that a test can check: CI runs its exact test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    command = re.search(r'^TEST_COMMAND="(.+)"$', ci, re.M).group(1)
    readme = (ROOT / "README.md").read_text()
    assert command in readme.splitlines(), f"README.md must give CI's test command verbatim: {command}"


def test_readme_install_commands_name_existing_extras():
    pyproject = (ROOT / "pyproject.toml").read_text()
    readme = (ROOT / "README.md").read_text()
    for extra in re.findall(r"pip install -e '\.\[(\w+)\]'", readme):
        assert re.search(rf"^{extra} = \[", pyproject, re.M), f"README installs extra [{extra}] that pyproject lacks"
