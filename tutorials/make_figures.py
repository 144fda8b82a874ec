"""Regenerate the committed figures in tutorials/figures/ by running the tutorials into it.

    python tutorials/make_figures.py            # every tutorial
    python tutorials/make_figures.py 01 04      # only tutorials 01 and 04 (by number or file name)

Running a tutorial by itself writes its figures to runs/tutorial_figures/ (git-ignored); this
script is the one deliberate way to overwrite the committed ones. Each tutorial runs as its own
process, from the repository root, at full size (set SCRATCHCONV_QUICK=1 yourself for a quick
look; the committed figures are full-size runs). Tutorial 06 needs Fashion-MNIST (see
scratchconv.data), tutorial 07 uses SCRATCHCONV_MONKEYS_DIR when set. Review and commit the
changed PNGs with git afterwards.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

TUTORIALS = Path(__file__).resolve().parent
ROOT = TUTORIALS.parent
FIGURES = TUTORIALS / "figures"


def select(names):
    """The tutorial files to run: all of them, or those whose number or file name is given."""
    every = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))
    if not names:
        return every
    chosen = []
    for name in names:
        matches = [p for p in every if p.name == name or p.name.startswith(name.zfill(2) + "_") or p.stem == name]
        if not matches:
            raise SystemExit(f"no tutorial {name!r}; there are: {', '.join(p.name for p in every)}")
        chosen += [p for p in matches if p not in chosen]
    return chosen


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    env = dict(os.environ, SCRATCHCONV_FIGURES_DIR=str(FIGURES))
    failed = []
    for path in select(argv):
        print(f"=== {path.relative_to(ROOT)} -> figures into {FIGURES.relative_to(ROOT)}/", flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, str(path.relative_to(ROOT))], cwd=ROOT, env=env)
        print(f"=== {path.name}: exit status {done.returncode}, {time.perf_counter() - start:.0f} s", flush=True)
        if done.returncode:
            failed.append(path.name)
    if failed:
        print(f"FAILED: {', '.join(failed)} (a failed tutorial may have rewritten only some of its figures)")
        return 1
    print(f"Done. Review the changes with: git status {FIGURES.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
