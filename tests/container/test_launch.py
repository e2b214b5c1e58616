"""Launch the lumbarqi image the way the XNAT container service does.

Builds the image with scripts/build_image.sh (podman; a debootstrap base image cached as
localhost/lumbarqi-base), lays a phantom study out as XNAT archives a session
(``SCANS/<id>/DICOM/*.dcm``), resolves xnat/command.json's command line, mounts and
environment as the container service does (override-entrypoint: ``/bin/sh -c LINE`` with
an empty entrypoint; input mount read-only), runs it without a network, and checks every
declared output.

Needs the Debian packages podman, runc and debootstrap (the Makefile installs them) and
root for debootstrap the first time; skipped with the reason otherwise.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMAND = json.loads((ROOT / "xnat" / "command.json").read_text())
BASE = "localhost/lumbarqi-base"
CONTAINERS_CONF = "[containers]\ndefault_ulimits = []\n\n[engine]\ncgroup_manager = \"cgroupfs\"\nruntime = \"runc\"\n"

pytestmark = pytest.mark.slow


def _missing_tools() -> list[str]:
    return [t for t in ("podman", "runc", "debootstrap") if shutil.which(t) is None and not Path(f"/usr/sbin/{t}").exists()]


@pytest.fixture(scope="module")
def podman_env(tmp_path_factory) -> dict:
    missing = _missing_tools()
    if missing:
        pytest.skip(f"needs Debian packages: {' '.join(missing)} (make test installs them)")
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    env = dict(os.environ, CONTAINERS_CONF=str(conf))
    env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/sbin"
    base_exists = subprocess.run(["podman", "image", "exists", BASE], env=env).returncode == 0
    if not base_exists and os.geteuid() != 0:
        pytest.skip("building the debootstrap base image needs root")
    return env


@pytest.fixture(scope="module")
def image(podman_env) -> str:
    """Build (or re-use the layer cache of) the image; return its name."""
    t0 = time.perf_counter()
    proc = subprocess.run([str(ROOT / "scripts" / "build_image.sh"), "--local-base"], env=podman_env,
                          capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, f"image build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    lines = dict(line.split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)
    print(f"\nimage {lines.get('image')} {int(lines.get('size_bytes', 0)) / 1e9:.2f} GB, "
          f"build {time.perf_counter() - t0:.0f} s")
    return lines["image"]


def _xnat_layout(study: Path, dest: Path) -> Path:
    """Copy a phantom's DICOM/S00N/*.dcm to SCANS/<N>/DICOM/*.dcm as XNAT archives a session."""
    for series in sorted((study / "DICOM").iterdir()):
        scan_id = str(int(series.name.lstrip("S")))
        target = dest / "SCANS" / scan_id / "DICOM"
        target.mkdir(parents=True)
        for f in series.glob("*.dcm"):
            shutil.copy2(f, target / f.name)
    # what else XNAT mounts with a session: scan catalogs next to the files
    (dest / "SCANS" / "1" / "DICOM" / "scan_catalog.xml").write_text("<cat:DCMCatalog/>\n")
    return dest


def resolve_command_line(command: dict, values: dict[str, str | None]) -> str:
    """The container service's resolution of ``command-line``: flag + value, or nothing."""
    line = command["command-line"]
    for i in command["inputs"]:
        key = i.get("replacement-key") or f"#{i['name']}#"
        value = values.get(i["name"], i.get("default-value"))
        if i["type"] == "boolean":
            text = i.get("true-value", "true") if str(value).lower() == "true" else i.get("false-value", "false")
        elif value in (None, ""):
            text = ""
        else:
            flag = i.get("command-line-flag")
            text = f"{flag}{i.get('command-line-separator', ' ')}{value}" if flag else str(value)
        line = line.replace(key, text)
    return line


def _podman_run(env: dict, image: str, in_dir: Path, out_dir: Path, values: dict) -> tuple[subprocess.CompletedProcess, float]:
    mounts = {m["name"]: m for m in COMMAND["mounts"]}
    host = {"session-dicom": in_dir, "lumbarqi-out": out_dir}
    cmd = ["podman", "run", "--rm", "--network", "none", "--entrypoint", ""]
    for name, m in mounts.items():
        cmd += ["-v", f"{host[name]}:{m['path']}{'' if m['writable'] else ':ro'}"]
    for k, v in COMMAND["environment-variables"].items():
        cmd += ["-e", f"{k}={v}"]
    # XNAT passes its address and a short-lived user token; the app must never need or log them
    cmd += ["-e", "XNAT_HOST=http://xnat.invalid", "-e", "XNAT_USER=0d0c1f9e-token", "-e", "XNAT_PASS=secret-token-value"]
    cmd += ["-w", COMMAND["working-directory"], image, "/bin/sh", "-c", resolve_command_line(COMMAND, values)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    return proc, time.perf_counter() - t0


@pytest.fixture(scope="module")
def launched(podman_env, image, small_study, tmp_path_factory):
    base = tmp_path_factory.mktemp("xnat")
    in_dir = _xnat_layout(small_study, base / "input")
    out_dir = base / "output"
    out_dir.mkdir()
    out_dir.chmod(0o777)  # the container service's build folder; the image runs as a non-root user
    before = {p: p.stat().st_mtime for p in in_dir.rglob("*")}
    proc, seconds = _podman_run(podman_env, image, in_dir, out_dir, {"personalisation": "muscle"})
    print(f"\ncontainer run (cold start to exit): {seconds:.1f} s")
    return {"proc": proc, "in": in_dir, "out": out_dir, "before": before, "seconds": seconds}


def test_label_carries_command(podman_env, image):
    label = subprocess.run(["podman", "image", "inspect", image, "--format", '{{index .Config.Labels "org.nrg.commands"}}'],
                           env=podman_env, capture_output=True, text=True, check=True).stdout
    assert json.loads(label) == [COMMAND]
    user = subprocess.run(["podman", "image", "inspect", image, "--format", "{{.Config.User}}"],
                          env=podman_env, capture_output=True, text=True, check=True).stdout.strip()
    assert user and not user.startswith(("0", "root")), "the image must run as a non-root user"


def test_map_layout(podman_env, image):
    script = ("import json,os; a=json.load(open('/etc/holoscan/app.json')); p=json.load(open('/etc/holoscan/pkg.json')); "
              "print(json.dumps({'app': a['command'], 'root': p['applicationRoot'], 'models': p['modelRoot'], "
              "'env': {k: os.environ.get(k) for k in ('HOLOSCAN_INPUT_PATH','HOLOSCAN_OUTPUT_PATH','HOLOSCAN_MODEL_PATH','HOLOSCAN_WORKDIR')}, "
              "'dirs': [os.path.isdir(d) for d in ('/opt/holoscan/app/app','/opt/holoscan/app/lumbarqi','/opt/holoscan/app/operators','/opt/holoscan/models','/var/holoscan/input','/var/holoscan/output')]}))")
    out = subprocess.run(["podman", "run", "--rm", "--network", "none", "--entrypoint", "", image, "python3", "-c", script],
                         env=podman_env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert json.loads(info["app"]) == ["python3", "/opt/holoscan/app"]
    assert info["root"] == "/opt/holoscan/app" and info["models"] == "/opt/holoscan/models"
    assert info["env"] == {"HOLOSCAN_INPUT_PATH": "/var/holoscan/input", "HOLOSCAN_OUTPUT_PATH": "/var/holoscan/output",
                           "HOLOSCAN_MODEL_PATH": "/opt/holoscan/models", "HOLOSCAN_WORKDIR": "/var/holoscan"}
    assert all(info["dirs"])


def test_launch_like_xnat(launched, small_truth):
    proc = launched["proc"]
    assert proc.returncode == 0, f"container failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    mount = launched["out"]
    for output in COMMAND["outputs"]:
        target = mount / output["path"]
        assert target.exists(), f"declared output {output['name']} ({output['path']}) missing"
        assert not target.is_dir() or any(target.iterdir()), f"output {output['name']} is empty"
    results_dir = mount / COMMAND["outputs"][0]["path"]
    results = json.loads((results_dir / "results.json").read_text())
    assert results["study_instance_uid"] == small_truth["study_instance_uid"]
    assert results["schema_version"].startswith("1.")
    assert (results_dir / "results.csv").read_text().startswith("section,")
    for rel in results["outputs"]:
        assert (results_dir / rel).is_file(), f"results.json lists {rel}, not written"
    assert not [p for p in mount.rglob(".lumbarqi-*")], "staging folders left behind"


def test_input_untouched_and_no_secrets_logged(launched):
    assert {p: p.stat().st_mtime for p in launched["in"].rglob("*")} == launched["before"]
    text = launched["proc"].stdout + launched["proc"].stderr
    for path in launched["out"].rglob("*"):
        if path.is_file() and path.suffix in (".log", ".json", ".csv"):
            text += path.read_text(errors="replace")
    assert "secret-token-value" not in text and "0d0c1f9e-token" not in text


def test_outputs_readable_by_other_users(launched):
    unreadable = [str(p.relative_to(launched["out"])) for p in launched["out"].rglob("*")
                  if p.is_file() and not p.stat().st_mode & stat.S_IROTH]
    assert not unreadable, f"not world-readable: {unreadable}"
