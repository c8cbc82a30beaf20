"""curate: find and fix label noise in NLP training data."""

from curate.errors import CurateError, InputError, WorkspaceLocked
from curate.store import Workspace, open_workspace

__version__ = "0.1.0"

__all__ = ["CurateError", "InputError", "Workspace", "WorkspaceLocked", "open_workspace", "__version__"]
