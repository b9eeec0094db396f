"""The analysis package's user-facing error."""

from __future__ import annotations

from spaces.errors import SpacesError


class AnalysisError(SpacesError, ValueError):
    """Bad input to an analysis (missing columns, empty bins, too few models); the message says what
    to do.

    A SpacesError, so `nas` prints it as one line like every other user error.
    """
