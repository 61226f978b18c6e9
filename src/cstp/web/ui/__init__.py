"""The dashboard at /ui/: server-rendered pages over the same methods agents call.

Pages call methods in-process through the server's dispatcher as the signed-in agent
(`state.UiState.call`), so auth, validation, capture and errors are the protocol's. See
docs/DASHBOARD.md for the pages, sign-in and sessions.
"""

from cstp.web.ui.routes import PREFIX, mount
from cstp.web.ui.state import UiState

__all__ = ["PREFIX", "UiState", "mount"]
