"""``python -m bench [NAME...]``: run benchmark cases side by side with the peers and update bench/RESULTS.md.

Each case prints its tables and replaces its own section of the results file (between ``<!-- case:NAME -->``
markers), so cases can be run one at a time; the file's header (machine, versions) is rewritten each run.
"""

from __future__ import annotations

import argparse
import datetime
import re
import shlex
import sys
import time
from pathlib import Path

from bench import CASES, load_case
from bench._harness import SCALES, Config, environment, load_average

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER_END = "<!-- end of header -->"


def _section(name: str, body: str) -> str:
    return f"<!-- case:{name} -->\n{body}\n<!-- /case:{name} -->"


def update_results(path: Path, sections: dict[str, str]) -> None:
    """Rewrite ``path``: a fresh header, then every case section (new ones replace old ones), in case order, then
    the notes (measurements made by hand, between ``<!-- note:NAME -->`` and ``<!-- /note:NAME -->``) as they
    were."""
    old = path.read_text() if path.exists() else ""
    kept: dict[str, str] = {}
    for name in CASES:
        start, end = f"<!-- case:{name} -->", f"<!-- /case:{name} -->"
        if start in old and end in old:
            kept[name] = old[old.index(start) : old.index(end) + len(end)]
    notes = [m[0] for m in re.finditer(r"<!-- note:([\w-]+) -->.*?<!-- /note:\1 -->", old, flags=re.DOTALL)]
    kept.update({name: _section(name, body) for name, body in sections.items()})
    header = [
        "# Benchmarks: ganmetrics side by side with the peers",
        "",
        "Written by `python -m bench` (see bench/README.md). Every table: median, minimum and maximum wall time "
        "of round-robin runs of each implementation on the same inputs, `× ours` = the row's median over our "
        "first row's median, and `rel. diff` = the relative difference of the row's value from the table's "
        "reference value. Each section records its own command, date and load average (1/5/15 min).",
        "",
        "Environment of the latest run:",
        "",
        *environment(),
        "",
        HEADER_END,
        "",
    ]
    blocks = [kept[name] for name in CASES if name in kept] + notes
    path.write_text("\n".join(header) + "\n\n".join(blocks) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"cases to run (default all): {', '.join(CASES)}")
    parser.add_argument(
        "--scale",
        choices=SCALES,
        default="default",
        help="problem sizes: smoke (seconds), default, or full (the issue's sizes; slow)",
    )
    parser.add_argument("--full", action="store_const", const="full", dest="scale", help="same as --scale full")
    parser.add_argument("--repeats", type=int, default=5, help="runs per implementation (default 5)")
    parser.add_argument(
        "--row-budget",
        type=float,
        default=120.0,
        help="seconds after which a slow row stops repeating (after at least 3 runs)",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help="results file to update (default bench/RESULTS.md)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only, do not update the results file")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    config = Config(scale=args.scale, repeats=args.repeats, min_runs=min(3, args.repeats), row_budget_s=args.row_budget)
    command = "python -m bench " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    sections = {}
    for name in args.names or list(CASES):
        module = load_case(name)
        load_before = load_average()
        started = time.perf_counter()
        when = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        tables = module.run(config)
        elapsed = time.perf_counter() - started
        body = "\n".join(
            [
                f"## {module.TITLE} (`{name}`)",
                "",
                f"Command `{command.strip()}`, scale `{config.scale}`, {when}, {elapsed:.0f} s; load average "
                f"before {load_before}, after {load_average()}.",
                "",
            ]
            + [table.markdown() for table in tables]
        )
        print(body, flush=True)
        sections[name] = body
        if not args.no_write:
            update_results(args.output, sections)
    return 0


if __name__ == "__main__":
    sys.exit(main())
