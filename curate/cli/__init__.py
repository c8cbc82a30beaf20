"""The `curate` command line: thin Typer commands over the library's Python API (curate.api), one module per noun."""

from curate.cli import data, detect, export, review, run  # noqa: F401  (each registers its commands on the app)
from curate.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app(prog_name="curate")


__all__ = ["app", "main"]
