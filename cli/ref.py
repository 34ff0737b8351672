"""``ganmetrics ref``: list, show, verify and regenerate the shipped reference statistics (``reference_stats/``).

Any command that takes a path also takes ``ref:NAME``, resolved to the hash-checked file of that entry.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from ganmetrics.reference_store import BUILDERS, ReferenceStore, regenerate


@click.group("ref")
def ref_group() -> None:
    """The shipped reference statistics: list them, show one, verify their hashes."""


@ref_group.command("list")
def list_command() -> None:
    """List the shipped references: name, kind, n, dims, extractor, protocol, size."""
    for entry in ReferenceStore().entries():
        meta = entry.metadata
        extractor = meta.get("extractor")
        if isinstance(extractor, dict):
            extractor = ",".join(extractor.values())
        protocol = f" protocol={meta['resize']}" if meta.get("resize") else ""
        click.echo(
            f"{entry.name:52s} {entry.kind:8s} n={meta.get('n')} dims={meta.get('dims')} "
            f"{extractor}{protocol} ({entry.bytes / 1024:.0f} KiB)"
        )


@ref_group.command("show")
@click.argument("name")
def show_command(name: str) -> None:
    """Print the manifest entry of NAME as JSON, with the state of its file (ok, missing or mismatch)."""
    store = ReferenceStore()
    entry = store.entry(name)
    result = store.check(entry)
    click.echo(json.dumps({**asdict(entry), "path": str(result.path), "status": result.status}, indent=2))


@ref_group.command("verify")
def verify_command() -> None:
    """Check the SHA-256 of every shipped file against the manifest; exit status 1 if any is missing or altered."""
    results = ReferenceStore().verify()
    for result in results:
        click.echo(f"{result.status:8s} {result.name}" + (f"  {result.detail}" if result.detail else ""))
    bad = [r for r in results if r.status != "ok"]
    if bad:
        raise click.ClickException(f"{len(bad)} of {len(results)} reference file(s) missing or altered")
    click.echo(f"all {len(results)} reference files match the manifest", err=True)


@ref_group.command("regenerate")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Store folder [default: the shipped reference_stats/].",
)
@click.option("--only", type=click.Choice(list(BUILDERS)), multiple=True, help="Regenerate these groups only.")
def regenerate_command(root: Path | None, only: tuple[str, ...]) -> None:
    """Recompute the shipped reference files and manifest.json (deterministic: seeded samples and weights)."""
    for entry in regenerate(root, only or tuple(BUILDERS)):
        click.echo(f"{entry.name}: {entry.file} ({entry.bytes} bytes, sha256 {entry.sha256[:12]})")
