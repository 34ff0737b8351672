"""The shipped reference statistics (the top-level reference_stats/ folder), installed as package data."""
