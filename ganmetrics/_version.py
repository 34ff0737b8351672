"""The one version string of ganmetrics (pyproject.toml reads it; modules import it from here, not the root)."""

__version__ = "0.1.0"
