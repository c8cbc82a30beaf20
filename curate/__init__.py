"""curate: find and fix label noise in NLP training data.

The Python API is the façade `curate.api` (`from curate import api`): one call per pipeline step, the same calls
the command line, the recipes and the review UI make (docs/api.md maps each command to its call)."""

from curate.errors import CurateError, InputError, WorkspaceLocked
from curate.store import Workspace, open_workspace
from curate.version import __version__

__all__ = ["CurateError", "InputError", "Workspace", "WorkspaceLocked", "open_workspace", "__version__"]
