"""``lumbarqi xnat`` through the real ``xnat`` package against a small fake XNAT.

The fake answers the documented endpoints the commands use (login as ``xnat.connect``
does it, container-service XAPI, Event Service XAPI, the /data REST listing) and records
every request; the tests assert what was asked of the server, and that no credential
reaches the terminal.
"""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from lumbarqi.cli import main

ROOT = Path(__file__).resolve().parents[2]
COMMAND = json.loads((ROOT / "xnat" / "command.json").read_text())
USER, PASSWORD = "pipeline-bot", "s3cret-Pa55word"
TOKEN = "0123456789ABCDEF0123456789ABCDEF"


class FakeXnat:
    """State of the fake server: registered commands, subscriptions, sessions; every request seen."""

    def __init__(self):
        self.requests: list[dict] = []
        self.commands: list[dict] = []
        self.subscriptions: list[dict] = []
        self.enabled: list[tuple] = []
        self.launches: list[dict] = []
        self.sessions = {"LUMBAR": [("XNAT_E00001", "sub1_MR1"), ("XNAT_E00002", "sub2_MR1"), ("XNAT_E00003", "sub3_MR1")]}
        self.resources = {"XNAT_E00002": ["DICOM", "LUMBARQI"]}

    def api(self, calls: str | None = None) -> list[tuple[str, str]]:
        """(method, path) of the requests after login, optionally only those whose path matches ``calls``."""
        skip = {"/", "/data/services/auth", "/data/auth", "/data/JSESSION"}
        return [(r["method"], r["path"]) for r in self.requests if r["path"] not in skip and (calls is None or re.search(calls, r["path"]))]


def _handler(state: FakeXnat):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def _send(self, status: int, body="", ctype="application/json", cookie: str | None = None):
            data = (json.dumps(body) if not isinstance(body, str) else body).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            if cookie:
                self.send_header("Set-Cookie", f"JSESSIONID={cookie}; Path=/")
            self.end_headers()
            self.wfile.write(data)

        def _record(self):
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            entry = {"method": self.command, "path": url.path, "query": {k: v[0] for k, v in parse_qs(url.query).items()},
                     "body": raw.decode(errors="replace"), "cookie": self.headers.get("Cookie", "")}
            state.requests.append(entry)
            return entry

        def _authed(self, req) -> bool:
            return f"JSESSIONID={TOKEN}" in req["cookie"]

        def do_GET(self):
            req = self._record()
            path = req["path"]
            if path == "/":
                return self._send(200, "<html><body>XNAT</body></html>", "text/html")
            if path == "/data/auth":
                if not self._authed(req):
                    return self._send(401, "Login attempt failed. Please try again.", "text/plain")
                return self._send(200, f"User '{USER}' is logged in", "text/plain")
            if not self._authed(req):
                return self._send(401, "unauthorised", "text/plain")
            if path == "/data/JSESSION":
                return self._send(200, TOKEN, "text/plain")
            if path == "/xapi/commands":
                q = req["query"]
                found = [c for c in state.commands if c["name"] == q.get("name", c["name"]) and c["image"] == q.get("image", c["image"])]
                return self._send(200, found)
            m = re.fullmatch(r"/xapi/commands/(\d+)", path)
            if m:
                found = [c for c in state.commands if c["id"] == int(m.group(1))]
                return self._send(200, found[0]) if found else self._send(404, "not found", "text/plain")
            if path == "/xapi/events/subscriptions":
                return self._send(200, state.subscriptions)
            m = re.fullmatch(r"/data/projects/([^/]+)/experiments", path)
            if m:
                assert req["query"].get("format") == "json"
                rows = [{"ID": i, "label": lab, "xsiType": "xnat:mrSessionData"} for i, lab in state.sessions.get(m.group(1), [])]
                return self._send(200, {"ResultSet": {"Result": rows, "totalRecords": str(len(rows))}})
            m = re.fullmatch(r"/data/experiments/([^/]+)/resources", path)
            if m:
                rows = [{"label": lab, "xnat_abstractresource_id": str(n)} for n, lab in enumerate(state.resources.get(m.group(1), []))]
                return self._send(200, {"ResultSet": {"Result": rows}})
            return self._send(404, "not found", "text/plain")

        def do_PUT(self):
            req = self._record()
            path = req["path"]
            if path == "/data/services/auth":
                form = {k: v[0] for k, v in parse_qs(req["body"]).items()}
                if form.get("username") == USER and form.get("password") == PASSWORD:
                    return self._send(200, TOKEN, "text/plain", cookie=TOKEN)
                return self._send(401, "<h3>Login attempt failed</h3>", "text/html")
            if not self._authed(req):
                return self._send(401, "unauthorised", "text/plain")
            m = re.fullmatch(r"(?:/xapi/projects/([^/]+))?/xapi/commands/(\d+)/wrappers/([^/]+)/enabled", path) or \
                re.fullmatch(r"/xapi/(?:projects/([^/]+)/)?commands/(\d+)/wrappers/([^/]+)/enabled", path)
            if m:
                state.enabled.append((m.group(1) or "site", int(m.group(2)), m.group(3)))
                return self._send(200, "")
            return self._send(404, "not found", "text/plain")

        def do_POST(self):
            req = self._record()
            path = req["path"]
            if not self._authed(req):
                return self._send(401, "unauthorised", "text/plain")
            if path == "/xapi/commands":
                command = json.loads(req["body"])
                cid = 10 + len(state.commands)
                command["id"] = cid
                for n, w in enumerate(command.get("xnat", [])):
                    w["id"] = 100 + cid * 10 + n
                state.commands.append(command)
                return self._send(201, str(cid), "application/json")
            if path == "/xapi/events/subscription":
                sub = json.loads(req["body"])
                sub["id"] = 1 + len(state.subscriptions)
                state.subscriptions.append(sub)
                return self._send(201, f"{sub['name']}:{sub['id']}", "text/plain")
            m = re.fullmatch(r"/xapi/projects/([^/]+)/wrappers/(\d+)/root/session/(launch|bulklaunch)", path)
            if m:
                body = json.loads(req["body"])
                state.launches.append({"project": m.group(1), "wrapper": int(m.group(2)), "kind": m.group(3), "body": body})
                if m.group(3) == "launch":
                    return self._send(200, {"status": "success", "params": body, "container-id": "abc", "workflow-id": "1"})
                sessions = json.loads(body["session"])
                return self._send(200, {"successes": [{"params": {"session": s}, "status": "success"} for s in sessions], "failures": []})
            return self._send(404, "not found", "text/plain")

        def do_DELETE(self):
            req = self._record()
            if req["path"] == "/data/JSESSION":
                return self._send(200, "")
            return self._send(404, "not found", "text/plain")

    return Handler


@pytest.fixture
def xnat_server(monkeypatch, tmp_path):
    state = FakeXnat()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("XNAT_HOST", url)
    monkeypatch.setenv("XNAT_USER", USER)
    monkeypatch.setenv("XNAT_PASS", PASSWORD)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc of the machine running the tests
    state.url = url
    yield state
    server.shutdown()
    server.server_close()


def _run(capsys, *argv) -> tuple[int, str]:
    code = main(["xnat", *argv])
    out = capsys.readouterr()
    text = out.out + out.err
    assert PASSWORD not in text and TOKEN not in text, "a credential reached the terminal"
    return code, text


def test_register_posts_command_once(xnat_server, capsys):
    code, text = _run(capsys, "register")
    assert code == 0, text
    assert "registered" in text and "id 10" in text and "wrapper id 200" in text
    posts = [r for r in xnat_server.requests if r["method"] == "POST" and r["path"] == "/xapi/commands"]
    assert len(posts) == 1
    assert json.loads(posts[0]["body"]) == COMMAND
    # login as xnat.connect does it: form PUT, then the auth check, JSESSION cookie afterwards
    auth = [r for r in xnat_server.requests if r["path"] == "/data/services/auth"][0]
    assert auth["method"] == "PUT" and "username=pipeline-bot" in auth["body"]
    assert all(f"JSESSIONID={TOKEN}" in r["cookie"] for r in xnat_server.requests if r["path"].startswith("/xapi/"))
    assert ("DELETE", "/data/JSESSION") in [(r["method"], r["path"]) for r in xnat_server.requests]

    code, text = _run(capsys, "register")  # idempotent: finds it, posts nothing
    assert code == 0 and "already registered" in text
    assert len([r for r in xnat_server.requests if r["method"] == "POST"]) == 1


def test_register_other_image_needs_tag(xnat_server, capsys):
    code, text = _run(capsys, "register", "--image", "registry.example.org/lumbarqi")
    assert code == 2 and "no tag" in text
    code, text = _run(capsys, "register", "--image", "registry.example.org/lumbarqi:0.1.0")
    assert code == 0
    assert xnat_server.commands[0]["image"] == "registry.example.org/lumbarqi:0.1.0"


def test_enable_site_and_project(xnat_server, capsys):
    _run(capsys, "register")
    code, text = _run(capsys, "enable", "--project", "LUMBAR")
    assert code == 0, text
    assert xnat_server.enabled == [("site", 10, "lumbarqi-session"), ("LUMBAR", 10, "lumbarqi-session")]
    assert xnat_server.api("/enabled$") == [("PUT", "/xapi/commands/10/wrappers/lumbarqi-session/enabled"),
                                            ("PUT", "/xapi/projects/LUMBAR/commands/10/wrappers/lumbarqi-session/enabled")]


def test_enable_before_register_fails_cleanly(xnat_server, capsys):
    code, text = _run(capsys, "enable", "--project", "LUMBAR")
    assert code == 2 and "not registered" in text and "lumbarqi xnat register" in text


def test_subscribe_on_session_archive(xnat_server, capsys):
    _run(capsys, "register")
    code, text = _run(capsys, "subscribe", "--project", "LUMBAR")
    assert code == 0, text
    (sub,) = xnat_server.subscriptions
    assert sub["action-key"] == "org.nrg.containers.services.CommandActionProvider:200"
    assert sub["event-filter"] == {"event-type": "org.nrg.xnat.eventservice.events.SessionEvent", "status": "CREATED",
                                   "project-ids": ["LUMBAR"]}
    assert sub["active"] is True and sub["act-as-event-user"] is False
    code, text = _run(capsys, "subscribe", "--project", "LUMBAR")
    assert code == 0 and "already exists" in text and len(xnat_server.subscriptions) == 1


def test_launch_one_session(xnat_server, capsys):
    _run(capsys, "register")
    code, text = _run(capsys, "launch", "--project", "LUMBAR", "--session", "XNAT_E00001", "--personalisation", "curvature")
    assert code == 0, text
    (launch,) = xnat_server.launches
    assert launch["kind"] == "launch" and launch["wrapper"] == 200
    assert launch["body"] == {"session": "/archive/experiments/XNAT_E00001", "personalisation": "curvature"}


def test_launch_whole_project_resumes(xnat_server, capsys):
    _run(capsys, "register")
    code, text = _run(capsys, "launch", "--project", "LUMBAR", "--all", "--skip-done", "--batch", "1")
    assert code == 0, text
    assert "skipped 1" in text
    launched = [json.loads(x["body"]["session"]) if x["kind"] == "bulklaunch" else [x["body"]["session"]] for x in xnat_server.launches]
    assert [s for batch in launched for s in batch] == ["/archive/experiments/XNAT_E00001", "/archive/experiments/XNAT_E00003"]
    listing = [r for r in xnat_server.requests if r["path"] == "/data/projects/LUMBAR/experiments"][0]
    assert listing["query"]["xsiType"] == "xnat:mrSessionData"


def test_launch_bulk_in_one_request(xnat_server, capsys):
    _run(capsys, "register")
    code, text = _run(capsys, "launch", "--project", "LUMBAR", "--all")
    assert code == 0, text
    (bulk,) = xnat_server.launches
    assert bulk["kind"] == "bulklaunch"
    assert json.loads(bulk["body"]["session"]) == [f"/archive/experiments/XNAT_E0000{i}" for i in (1, 2, 3)]
    assert xnat_server.api("launch$") == [("POST", "/xapi/projects/LUMBAR/wrappers/200/root/session/bulklaunch")]


def test_dry_run_launches_nothing(xnat_server, capsys):
    _run(capsys, "register")
    code, text = _run(capsys, "launch", "--project", "LUMBAR", "--all", "--dry-run")
    assert code == 0 and "would launch" in text and "XNAT_E00003" in text
    assert xnat_server.launches == []


def test_credentials_from_netrc(xnat_server, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("XNAT_USER")
    monkeypatch.delenv("XNAT_PASS")
    host = urlparse(xnat_server.url).netloc
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {host}\n  login {USER}\n  password {PASSWORD}\n")
    netrc.chmod(0o600)
    code, text = _run(capsys, "register", "--netrc", str(netrc))
    assert code == 0, text
    code, text = _run(capsys, "register")  # no env, no ~/.netrc: a clear message, no prompt
    assert code == 2 and "XNAT_USER" in text


def test_wrong_password(xnat_server, capsys, monkeypatch):
    monkeypatch.setenv("XNAT_PASS", "wrong-password-123")
    code = main(["xnat", "register"])
    out = capsys.readouterr()
    assert code == 2 and "login" in (out.out + out.err)
    assert "wrong-password-123" not in out.out + out.err
