"""``python -m bench``: run MBO's benchmarks, print the Markdown report, write bench/results.md.

Only the full run (no ``--quick``, no ``--only``) writes ``bench/results.md`` by default, so
smoke runs never overwrite the committed results; ``--output`` writes anywhere.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.runner import SECTIONS, build_report

RESULTS = Path(__file__).resolve().parent / "results.md"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (a smoke run, not a measurement)")
    parser.add_argument("--only", choices=SECTIONS, help="run one section (allocate includes peak memory)")
    parser.add_argument("--output", type=Path, help=f"write the report here (default for the full run: {RESULTS})")
    args = parser.parse_args(argv)

    flags = (["--quick"] if args.quick else []) + ([f"--only {args.only}"] if args.only else [])
    command = f"`python -m bench {' '.join(flags)}`" if flags else "`make bench` (`python -m bench`)"

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    report = build_report(quick=args.quick, only=args.only, progress=progress, command=command)
    print(report.markdown)
    output = args.output or (RESULTS if not (args.quick or args.only) else None)
    if output is not None:
        output.write_text(report.markdown, encoding="utf-8")
        progress(f"wrote {output} ({report.wall_seconds:.0f} s)")


if __name__ == "__main__":
    main()
