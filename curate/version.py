"""The curate version (one place: the package, the runs table, manifests and reports read it here)."""

__version__ = "0.1.0"
