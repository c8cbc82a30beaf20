"""UI tests run the real app on a private copy of the session's review workspace."""

from __future__ import annotations

from tests.review.conftest import review_db, review_path  # noqa: F401  (shared fixtures)
