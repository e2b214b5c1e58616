"""XNAT container-service integration: register the lumbarqi command, enable it,
subscribe it to session-archive events, and launch it on sessions or whole projects.

Everything goes through the ``xnat`` package's session (``xnat.connect``) with plain
REST/XAPI calls; see :mod:`lumbarqi.xnat.api` for the endpoints and the XNAT /
container-service versions they come from. Credentials come from the environment
(``XNAT_HOST``, ``XNAT_USER``, ``XNAT_PASS``) or ``~/.netrc`` and are never printed.
"""
from lumbarqi.xnat.api import (
    COMMAND_JSON,
    SESSION_EVENT,
    ContainerService,
    XnatError,
    connect,
    load_command,
)

__all__ = ["COMMAND_JSON", "SESSION_EVENT", "ContainerService", "XnatError", "connect", "load_command"]
