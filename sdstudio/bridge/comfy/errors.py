"""What goes wrong with a server, as one line that names the server and says what to do."""

from __future__ import annotations

from sdstudio.errors import SdStudioError


class ServerError(SdStudioError):
    """A ComfyUI server refused a request or failed a job (bad token, rejected workflow, node error)."""


class ServerUnreachable(ServerError):
    """No answer at the URL: wrong address, server not running, or a network in between."""


class ConnectionLost(ServerError):
    """The websocket closed and did not come back, or the server came back without our job."""
