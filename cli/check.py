"""``ganmetrics check CHECKS.toml``: metric regression checks for CI (see ``ganmetrics.checks``).

Exit status: 0 when every check passes, 1 when any fails or cannot be computed, 2 when the checks file itself
is invalid (nothing is run then).
"""

from __future__ import annotations

from pathlib import Path

import click

from ganmetrics.checks import ChecksFileError, read_checks, run_checks, write_json_report, write_junit_xml

_INVALID_FILE_STATUS = 2


class _InvalidChecksFile(click.ClickException):
    exit_code = _INVALID_FILE_STATUS


@click.command("check")
@click.argument("checks_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the results as JSON here (values, thresholds, sizes, provenance).",
)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the results as JUnit XML here (one testcase per check).",
)
def check_command(checks_file: Path, report: Path | None, junit: Path | None) -> None:
    """Run the metric checks of CHECKS_FILE; exit 1 if any fails, 2 if the file is invalid."""
    try:
        parsed = read_checks(checks_file)
    except ChecksFileError as exc:
        raise _InvalidChecksFile(str(exc)) from None
    results = run_checks(parsed)
    for result in results:
        click.echo(f"{result.status.upper():6s} {result.check.name}: {result.message}")
        for warning in result.warnings:
            click.echo(f"Warning: {result.check.name}: {warning}", err=True)
    if report is not None:
        write_json_report(results, parsed, report)
    if junit is not None:
        write_junit_xml(results, parsed, junit)
    failed = [r for r in results if r.status != "passed"]
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(results)} check(s) did not pass")
