"""ganmetrics: evaluation of generative models with the numbers of the reference implementations."""

__version__ = "0.1.0"
