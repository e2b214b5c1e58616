"""xnat/command.json follows the container service's rules (schema 1.0), without a server.

The rules checked are the ones the container service applies when a command is
registered or resolved: an image with a tag, legal names, every mount/input/output a
reference points to exists, every command output has an output handler, and the output
handler hangs the upload under a wrapper input of an XNAT type.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lumbarqi import __version__

ROOT = Path(__file__).resolve().parents[2]
COMMAND = json.loads((ROOT / "xnat" / "command.json").read_text())
NAME = re.compile(r"^[A-Za-z0-9_-]+$")
XNAT_TYPES = {"Project", "Subject", "Session", "Scan", "Assessor", "Resource"}


def test_top_level():
    c = COMMAND
    assert c["schema-version"] == "1.0"
    assert c["type"] == "docker"
    assert c["version"] == __version__
    name, _, tag = c["image"].rpartition(":")
    assert name and tag and "/" not in tag, "image needs NAME:TAG"
    assert c["image"] == f"lumbarqi/lumbarqi:{__version__}", "scripts/build_image.sh tags the image this way"
    assert NAME.match(c["name"])


def test_names_are_legal_and_unique():
    c = COMMAND
    for group in ("mounts", "inputs", "outputs"):
        names = [x["name"] for x in c[group]]
        assert len(names) == len(set(names)), group
        assert all(NAME.match(n) for n in names), names
    for w in c["xnat"]:
        assert NAME.match(w["name"])
        names = [x["name"] for x in w.get("external-inputs", []) + w.get("derived-inputs", [])]
        names += [h["name"] for h in w.get("output-handlers", [])]
        assert len(names) == len(set(names)) and all(NAME.match(n) for n in names), names


def test_mounts_and_paths():
    mounts = {m["name"]: m for m in COMMAND["mounts"]}
    assert mounts["session-dicom"]["path"] == "/input" and mounts["session-dicom"]["writable"] is False
    assert mounts["lumbarqi-out"]["path"] == "/output" and mounts["lumbarqi-out"]["writable"] is True
    for o in COMMAND["outputs"]:
        assert o["mount"] in mounts and mounts[o["mount"]]["writable"]
        assert not o["path"].startswith("/"), "output paths are relative to the mount"


def test_inputs_reach_the_command_line():
    line = COMMAND["command-line"]
    for i in COMMAND["inputs"]:
        key = i.get("replacement-key") or f"#{i['name']}#"
        assert key in line, f"{key} missing from command-line"
        assert i["type"] in {"string", "boolean", "number", "file"}
    # the run's output folder is the declared output path inside the output mount
    out = COMMAND["outputs"][0]
    assert f"-o /output/{out['path']}" in line
    assert COMMAND["environment-variables"]["HOLOSCAN_OUTPUT_PATH"] == f"/output/{out['path']}"


def test_every_output_is_handled_once():
    wrapper = COMMAND["xnat"][0]
    handled = [h["accepts-command-output"] for h in wrapper["output-handlers"]]
    assert sorted(handled) == sorted(o["name"] for o in COMMAND["outputs"])
    inputs = {i["name"]: i for i in wrapper["external-inputs"] + wrapper.get("derived-inputs", [])}
    for h in wrapper["output-handlers"]:
        assert h["type"] == "Resource"
        assert h["label"] == "LUMBARQI"
        assert inputs[h["as-a-child-of"]]["type"] in XNAT_TYPES


def test_session_context():
    wrapper = COMMAND["xnat"][0]
    assert wrapper["contexts"] == ["xnat:imageSessionData"]
    session = wrapper["external-inputs"][0]
    assert session["type"] == "Session" and session["required"] is True
    assert session["provides-files-for-command-mount"] == "session-dicom"
    cmd_inputs = {i["name"] for i in COMMAND["inputs"]}
    for i in wrapper["external-inputs"] + wrapper.get("derived-inputs", []):
        target = i.get("provides-value-for-command-input")
        assert target is None or target in cmd_inputs


@pytest.mark.parametrize("code,expected", [(0, 0), (3, 0), (4, 4), (2, 2), (1, 1)])
def test_partial_results_still_upload(code, expected, tmp_path):
    """Exit 3 (partial) becomes 0 so the container service uploads what was written."""
    import subprocess

    line = COMMAND["command-line"].replace("python3 /opt/holoscan/app", f"sh -c 'exit {code}' --")
    for i in COMMAND["inputs"]:
        line = line.replace(i["replacement-key"], "")
    assert subprocess.run(["/bin/sh", "-c", line]).returncode == expected
