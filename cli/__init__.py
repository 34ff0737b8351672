"""The ganmetrics command line (installed as ganmetrics.cli)."""
