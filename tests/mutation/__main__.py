"""`make mutants`: plant each bug of ``mutants.MUTANTS`` in a scratch copy of the repository, one at a time, and
check that the test suite fails.

For each mutant: its own tests run first (``pytest -x``), then, if they all pass, the rest of the suite. The
table says which test caught it first; the run fails if any mutant survives, if a mutant's text is not found
exactly once (the list has gone stale), or if the unmutated tests do not pass to begin with.

    python -m tests.mutation                 # every mutant
    python -m tests.mutation --only fx-inverted dry-run-writes
    python -m tests.mutation --skip-baseline  # right after a green `make test` (CI)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.mutation.mutants import MUTANTS, Mutant

ROOT = Path(__file__).resolve().parents[2]
#: What a mutant's pytest may take before it counts as caught by a hang (the suite-wide timeout is per test).
RUN_TIMEOUT_SECONDS = 1800
#: Opt-in system runs `make test` collects skipped (each is a step of its own in .ci/run) that guard mutants: set for
#: the baseline and each mutant's own tests, not for the rest of the suite (which is `make test`'s).
OWN_TESTS_ENV = {"MBO_UPGRADE_TEST": "1"}


def scratch_copy() -> Path:
    """The repository's files (tracked and untracked, not ignored) in a temporary folder, plus the dbt manifest."""
    target = Path(tempfile.mkdtemp(prefix="mbo-mutants-"))
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    manifest = ROOT / "dbt_project" / "target" / "manifest.json"
    if manifest.exists():  # saves a dbt parse; dbt build re-reads the (mutated) SQL itself
        (target / "dbt_project" / "target").mkdir(parents=True, exist_ok=True)
        shutil.copy2(manifest, target / "dbt_project" / "target" / "manifest.json")
    return target


def pytest(scratch: Path, targets: list[str], deselect: list[str] = (),
           extra_env: dict[str, str] | None = None) -> tuple[bool, str, float]:
    """Run pytest -x in the scratch copy (its packages shadow the installed ones); (passed, first failure, seconds)."""
    env = {**os.environ, "MBO_HOME": str(scratch / ".mbo"), "PYTHONDONTWRITEBYTECODE": "1", **(extra_env or {})}
    args = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-rfE", *targets]
    args += [f"--ignore={path}" for path in deselect]
    started = time.monotonic()
    try:
        done = subprocess.run(args, cwd=scratch, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return False, f"(timed out after {RUN_TIMEOUT_SECONDS}s)", time.monotonic() - started
    seconds = time.monotonic() - started
    if done.returncode == 0:
        return True, "", seconds
    failed = re.search(r"^(?:FAILED|ERROR) (\S+)", done.stdout, re.M)
    return False, failed.group(1) if failed else (done.stdout + done.stderr).strip().splitlines()[-1], seconds


def plant(scratch: Path, mutant: Mutant) -> str:
    """Apply the mutant; returns the original text to restore."""
    path = scratch / mutant.path
    original = path.read_text()
    count = original.count(mutant.old)
    if count != 1:
        raise SystemExit(f"mutant {mutant.id}: its text occurs {count} times in {mutant.path} (expected once): "
                         "update tests/mutation/mutants.py")
    path.write_text(original.replace(mutant.old, mutant.new))
    return original


def main(argv: list[str] | None = None) -> int:
    """Run the mutants; print the table; exit 1 if any survives."""
    parser = argparse.ArgumentParser(prog="make mutants", description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", help="mutant ids to run (default: all)")
    parser.add_argument("--skip-baseline", action="store_true",
                        help="do not run the unmutated tests first (they just passed in `make test`)")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.only or m.id in args.only]
    unknown = set(args.only or ()) - {m.id for m in MUTANTS}
    if unknown:
        raise SystemExit(f"unknown mutant ids: {', '.join(sorted(unknown))}")

    scratch = scratch_copy()
    try:
        targets = sorted({t for m in chosen for t in m.tests})
        if not args.skip_baseline:
            print(f"baseline: the mutants' own tests, unmutated ({', '.join(targets)}) ...", flush=True)
            ok, failure, seconds = pytest(scratch, targets, extra_env=OWN_TESTS_ENV)
            if not ok:
                print(f"baseline failed ({failure}): fix the suite before judging mutants", file=sys.stderr)
                return 2
            print(f"baseline passed in {seconds:.0f}s\n", flush=True)
        rows, survivors = [], []
        for mutant in chosen:
            original = plant(scratch, mutant)
            try:
                caught, failure, seconds = _judge(scratch, mutant)
            finally:
                (scratch / mutant.path).write_text(original)
            rows.append((mutant.id, failure if caught else "SURVIVED", seconds))
            print(f"  {mutant.id:<36} {'caught by ' + failure if caught else 'SURVIVED'} ({seconds:.0f}s)", flush=True)
            if not caught:
                survivors.append(mutant)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print("\n| mutant | first failing test | seconds |\n|---|---|---:|")
    for mutant_id, failure, seconds in rows:
        print(f"| {mutant_id} | {failure} | {seconds:.0f} |")
    if survivors:
        print(f"\n{len(survivors)} of {len(rows)} mutants SURVIVED: " + ", ".join(m.id for m in survivors), file=sys.stderr)
        for mutant in survivors:
            print(f"  {mutant.id}: {mutant.why}", file=sys.stderr)
    # A caught mutant is a passed check.
    print(f"\nmutants: {len(rows) - len(survivors)} passed, {len(survivors)} failed")
    return 1 if survivors else 0


def _judge(scratch: Path, mutant: Mutant) -> tuple[bool, str, float]:
    """Caught by the mutant's own tests, or else by the rest of the suite."""
    passed, failure, seconds = pytest(scratch, list(mutant.tests), extra_env=OWN_TESTS_ENV)
    if not passed:
        return True, failure, seconds
    # tests/mutation checks the mutants list itself: a planted mutant always "fails" it.
    passed_rest, failure, more = pytest(scratch, ["tests"], deselect=[*mutant.tests, "tests/mutation"])
    return not passed_rest, failure, seconds + more


if __name__ == "__main__":
    sys.exit(main())
