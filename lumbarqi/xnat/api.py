"""The few XNAT REST/XAPI calls lumbarqi needs, made through an ``xnat`` package session.

Endpoints (XNAT 1.8/1.9 core, container-service plugin 3.x; README "XNAT" section):

- login, by ``xnat.connect``: ``GET /`` (redirect check), ``PUT /data/services/auth``
  (returns the JSESSION id), ``GET /data/auth`` (who is logged in), ``GET /data/JSESSION``
  (heartbeat); ``DELETE /data/JSESSION`` on disconnect.
- commands: ``GET /xapi/commands?name=&image=``, ``POST /xapi/commands`` (body: the
  command JSON; answer: the new id), ``GET /xapi/commands/{id}``.
- enable: ``PUT /xapi/commands/{id}/wrappers/{wrapper}/enabled`` (site) and
  ``PUT /xapi/projects/{project}/commands/{id}/wrappers/{wrapper}/enabled`` (project).
- Event Service: ``GET /xapi/events/subscriptions``, ``POST /xapi/events/subscription``
  with ``action-key`` ``org.nrg.containers.services.CommandActionProvider:{wrapperId}``
  and an ``event-filter`` on ``SessionEvent`` status ``CREATED`` (a session archived).
- launch: ``POST /xapi/projects/{project}/wrappers/{wrapperId}/root/session/launch``
  (one session) and ``.../root/session/bulklaunch`` (many; the ``session`` value is a JSON
  list of ``/archive/experiments/{id}``); sessions listed by
  ``GET /data/projects/{project}/experiments?format=json`` and their resources by
  ``GET /data/experiments/{id}/resources?format=json``.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from lumbarqi.errors import LumbarqiError

#: The command definition shipped with lumbarqi (also the image's org.nrg.commands label).
COMMAND_JSON = Path(__file__).resolve().parents[2] / "xnat" / "command.json"
#: Where the image keeps a copy (the repository's xnat/ folder is not in the image).
IMAGE_COMMAND_JSON = Path("/opt/holoscan/docs/xnat-command.json")
#: Event Service event type of image sessions; status CREATED fires when one is archived.
SESSION_EVENT = "org.nrg.xnat.eventservice.events.SessionEvent"
COMMAND_ACTION_PROVIDER = "org.nrg.containers.services.CommandActionProvider"
#: The XNAT data types lumbarqi can run on (MR sessions; the wrapper's context is any image session).
MR_SESSION = "xnat:mrSessionData"

log = logging.getLogger("lumbarqi")


class XnatError(LumbarqiError):
    """An XNAT server refused or did not understand a request (one line, no credentials)."""


def load_command(path: Path | None = None, image: str | None = None) -> dict:
    """The command JSON (from ``path``, the repository or the image), optionally with another image name."""
    candidates = [path] if path else [COMMAND_JSON, IMAGE_COMMAND_JSON]
    for p in candidates:
        if p is not None and Path(p).is_file():
            command = json.loads(Path(p).read_text())
            break
    else:
        raise LumbarqiError(f"command definition not found ({', '.join(str(p) for p in candidates if p)})")
    if image:
        if ":" not in image.rsplit("/", 1)[-1]:
            raise LumbarqiError(f"image {image!r} has no tag; the container service needs NAME:TAG")
        command["image"] = image
    return command


@dataclass
class Credentials:
    server: str
    user: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    netrc_file: str | None = None

    def __repr__(self) -> str:  # never show the secret, even in a traceback
        return f"Credentials(server={self.server!r}, user={'set' if self.user else 'netrc'})"


def credentials(host: str | None = None, netrc_file: str | None = None) -> Credentials:
    """Server from ``--host`` or XNAT_HOST; user and password from XNAT_USER/XNAT_PASS or netrc."""
    server = host or os.environ.get("XNAT_HOST")
    if not server:
        raise LumbarqiError("no XNAT server: give --host URL or set XNAT_HOST")
    if not server.startswith(("http://", "https://")):
        raise LumbarqiError(f"XNAT server {server!r} must start with http:// or https://")
    user, password = os.environ.get("XNAT_USER"), os.environ.get("XNAT_PASS")
    if bool(user) != bool(password):
        raise LumbarqiError("set both XNAT_USER and XNAT_PASS, or neither (then ~/.netrc is used)")
    if not user:
        import netrc
        from urllib.parse import urlparse

        try:
            entry = netrc.netrc(netrc_file).authenticators(urlparse(server).netloc) if (netrc_file or _has_netrc()) else None
        except (OSError, netrc.NetrcParseError) as exc:
            raise LumbarqiError(f"could not read the netrc file: {type(exc).__name__}") from None
        if not entry:
            raise LumbarqiError(f"no credentials for {urlparse(server).netloc}: set XNAT_USER and XNAT_PASS or add it to ~/.netrc")
        user, _, password = entry
    return Credentials(server.rstrip("/"), user, password, netrc_file)


def _has_netrc() -> bool:
    return (Path.home() / ".netrc").is_file()


def connect(creds: Credentials):
    """An ``xnat`` session without the data-model parse (only raw REST calls are used)."""
    import xnat
    from xnat import exceptions as xe  # type: ignore[attr-defined]

    logging.getLogger("xnat").setLevel(logging.WARNING)
    xlog = logging.getLogger("lumbarqi.xnatpy")
    xlog.setLevel(logging.WARNING)
    try:
        return xnat.connect(creds.server, user=creds.user, password=creds.password, no_parse_model=True,  # type: ignore[attr-defined]
                            logger=xlog, loglevel="WARNING", detect_redirect=False)
    except xe.XNATLoginFailedError:
        raise XnatError(f"login to {creds.server} failed: check the user name and password") from None
    except (xe.XNATError, OSError, ValueError) as exc:
        raise XnatError(f"could not connect to {creds.server}: {type(exc).__name__}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


@dataclass
class Registered:
    command_id: int
    wrappers: dict[str, int]  # wrapper name -> wrapper id
    created: bool


class ContainerService:
    """The container-service and Event Service calls, on one connected ``xnat`` session."""

    def __init__(self, session):
        self.session = session

    # -- low level -------------------------------------------------------------------------
    def _call(self, method: str, path: str, what: str, **kwargs):
        from xnat import exceptions as xe  # type: ignore[attr-defined]

        try:
            return getattr(self.session, method)(path, **kwargs)
        except xe.XNATResponseError as exc:
            status = getattr(getattr(exc, "response", None), "status_code", "?")
            body = getattr(getattr(exc, "response", None), "text", "") or ""
            detail = body.strip().splitlines()[0][:160] if body.strip() and not body.lstrip().startswith("<") else ""
            raise XnatError(f"{what} failed: {method.upper()} {path} answered {status}{': ' + detail if detail else ''}") from None
        except (xe.XNATError, OSError) as exc:
            raise XnatError(f"{what} failed: {type(exc).__name__}: {_first_line(exc)}") from None

    def _json(self, path: str, what: str, query: dict | None = None):
        # the /data REST API answers JSON only when asked (format=json); XAPI always does
        fmt = "json" if path.startswith("/data/") else None
        response = self._call("get", path, what, query=dict(query or {}), format=fmt)
        try:
            return response.json()
        except ValueError:
            raise XnatError(f"{what}: {path} did not answer JSON") from None

    # -- commands --------------------------------------------------------------------------
    def find_command(self, name: str, image: str | None = None) -> dict | None:
        query = {"name": name}
        if image:
            query["image"] = image
        found = self._json("/xapi/commands", "looking up the command", query=query)
        for command in found if isinstance(found, list) else []:
            if command.get("name") == name and (image is None or command.get("image") == image):
                return command
        return None

    def register(self, command: dict) -> Registered:
        """POST the command unless one with the same name and image exists; return its ids."""
        existing: dict | None = self.find_command(command["name"], command.get("image"))
        created = existing is None
        if created:
            response = self._call("post", "/xapi/commands", "registering the command", json=command, accepted_status=[200, 201])
            try:
                command_id = int(response.text.strip().strip('"'))
            except ValueError:
                raise XnatError(f"registering the command: unexpected answer {response.text.strip()[:80]!r}") from None
            existing = self._json(f"/xapi/commands/{command_id}", "reading the registered command")
        if not isinstance(existing, dict):
            raise XnatError("registering the command: XNAT did not return it")
        wrappers = {w["name"]: int(w["id"]) for w in existing.get("xnat", []) if "id" in w}
        return Registered(int(existing["id"]), wrappers, created)

    def resolve(self, command: dict, wrapper: str | None = None) -> tuple[int, str, int]:
        """(command id, wrapper name, wrapper id) of the registered command."""
        found = self.find_command(command["name"], command.get("image"))
        if found is None:
            raise XnatError(f"command {command['name']!r} ({command.get('image')}) is not registered: run `lumbarqi xnat register` first")
        wrappers = {w["name"]: int(w["id"]) for w in found.get("xnat", []) if "id" in w}
        name = wrapper or (command.get("xnat") or [{}])[0].get("name")
        if name not in wrappers:
            raise XnatError(f"wrapper {name!r} not found on command {found['id']} (has: {', '.join(wrappers) or 'none'})")
        return int(found["id"]), name, wrappers[name]

    def enable(self, command_id: int, wrapper: str, project: str | None = None, site: bool = True) -> list[str]:
        """Enable the wrapper for the site and (optionally) a project; return what was done."""
        done = []
        reason = {"reason": "lumbarqi xnat enable"}
        if site:
            self._call("put", f"/xapi/commands/{command_id}/wrappers/{quote(wrapper)}/enabled", "enabling for the site", query=reason)
            done.append("site")
        if project:
            self._call("put", f"/xapi/projects/{quote(project)}/commands/{command_id}/wrappers/{quote(wrapper)}/enabled",
                       f"enabling for project {project}", query=reason)
            done.append(f"project {project}")
        return done

    # -- Event Service ---------------------------------------------------------------------
    def subscribe(self, wrapper_id: int, project: str, name: str | None = None, act_as_event_user: bool = False) -> tuple[int | None, bool]:
        """Subscription launching the wrapper when a session of ``project`` is archived.

        Returns (subscription id, created); an existing subscription with the same name is kept.
        """
        name = name or f"lumbarqi on session archive ({project})"
        existing = self._json("/xapi/events/subscriptions", "listing Event Service subscriptions")
        for sub in existing if isinstance(existing, list) else []:
            if sub.get("name") == name:
                return (int(sub["id"]) if "id" in sub else None), False
        body = {
            "name": name,
            "active": True,
            "action-key": f"{COMMAND_ACTION_PROVIDER}:{wrapper_id}",
            "event-filter": {"event-type": SESSION_EVENT, "status": "CREATED", "project-ids": [project]},
            "act-as-event-user": act_as_event_user,
            "attributes": {},
        }
        response = self._call("post", "/xapi/events/subscription", "creating the Event Service subscription", json=body,
                              accepted_status=[200, 201])
        text = response.text.strip()  # "name:id"
        tail = text.rsplit(":", 1)[-1]
        return (int(tail) if tail.isdigit() else None), True

    # -- sessions and launches -------------------------------------------------------------
    def sessions(self, project: str, xsi_type: str = MR_SESSION) -> list[dict]:
        """Every session of ``project`` of the given type: [{ID, label, xsiType}]."""
        data = self._json(f"/data/projects/{quote(project)}/experiments", f"listing sessions of project {project}",
                          query={"xsiType": xsi_type, "columns": "ID,label,xsiType"})
        rows = (data or {}).get("ResultSet", {}).get("Result", [])
        return [r for r in rows if r.get("ID")]

    def has_resource(self, session_id: str, label: str) -> bool:
        data = self._json(f"/data/experiments/{quote(session_id)}/resources", f"listing resources of {session_id}")
        rows = (data or {}).get("ResultSet", {}).get("Result", [])
        return any(r.get("label") == label for r in rows)

    def launch(self, project: str, wrapper_id: int, session_ids: list[str], params: dict[str, str]) -> dict:
        """Launch on one session (``launch``) or several (``bulklaunch``); return the server's report."""
        paths = [f"/archive/experiments/{sid}" for sid in session_ids]
        base = f"/xapi/projects/{quote(project)}/wrappers/{wrapper_id}/root/session"
        if len(paths) == 1:
            body = {"session": paths[0], **params}
            response = self._call("post", f"{base}/launch", f"launching on {session_ids[0]}", json=body, accepted_status=[200, 201])
        else:
            body = {"session": json.dumps(paths), **params}
            response = self._call("post", f"{base}/bulklaunch", f"launching on {len(paths)} sessions", json=body,
                                  accepted_status=[200, 201])
        try:
            return response.json()
        except ValueError:
            return {"status": "submitted", "text": response.text.strip()[:200]}
