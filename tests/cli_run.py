"""The CLI test helpers: ``ganmetrics`` run in-process (click's CliRunner, stdout and stderr apart).

Importable from every test folder (pyproject's ``pythonpath = ["tests"]``).
"""

from __future__ import annotations

import json

from click.testing import CliRunner

from ganmetrics.cli.main import main


def run(*args: object) -> tuple[int, str, str]:
    """Invoke ``ganmetrics ARGS``; return exit code, stdout and stderr."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def run_json(*args: object) -> dict:
    """Invoke a metric command with ``--json``; return the one JSON object it prints."""
    code, out, err = run(*args, "--json")
    assert code == 0, err
    return json.loads(out)
