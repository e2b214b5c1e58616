"""A real PACS: Debian Orthanc + its DICOMweb plugin, started here on loopback ports.

The phantom study goes in by C-STORE, is listed back through DICOMweb (QIDO-RS),
and the outputs go in by STOW-RS and by C-STORE; Orthanc must list SEG, SR and
the Encapsulated PDF under the source study, without duplicates.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pydicom
import pytest
import requests

from lumbarqi.reporting import SendError, send_cstore, send_stow

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"


def dicomweb_plugin() -> str | None:
    """Path of the DICOMweb plugin as ``dpkg -L orthanc-dicomweb`` lists it."""
    try:
        out = subprocess.run(["dpkg", "-L", "orthanc-dicomweb"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    libs = [line for line in out.stdout.splitlines() if "DicomWeb" in line and ".so" in line]
    return next((p for p in libs if Path(p).is_file()), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Orthanc:
    """One Orthanc process with its own configuration and storage in a temporary folder."""

    aet = "LQTESTPACS"

    def __init__(self, folder: Path, plugin: str):
        self.http_port, self.dicom_port = free_port(), free_port()
        config = {
            "Name": "lumbarqi-test", "StorageDirectory": str(folder / "storage"),
            "IndexDirectory": str(folder / "index"), "HttpPort": self.http_port,
            "DicomPort": self.dicom_port, "DicomAet": self.aet, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "DicomAlwaysAllowStore": True, "DicomCheckCalledAet": False,
            "UnknownSopClassAccepted": True, "Plugins": [plugin],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}, "HttpThreadsCount": 4,
        }
        (folder / "orthanc.json").write_text(json.dumps(config))
        self.log = open(folder / "orthanc.log", "w")
        self.proc = subprocess.Popen([ORTHANC, str(folder / "orthanc.json")], stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=folder)
        self.url = f"http://127.0.0.1:{self.http_port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {self.proc.returncode}, see {folder}/orthanc.log")
            try:
                if requests.get(self.url + "/system", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError("Orthanc did not answer within 30 s")

    @property
    def address(self) -> str:
        return f"{self.aet}@127.0.0.1:{self.dicom_port}"

    def get(self, path: str):
        r = requests.get(self.url + path, timeout=10)
        r.raise_for_status()
        return r.json()

    def series_of_study(self, study_uid: str) -> dict[str, dict]:
        """SeriesInstanceUID -> {modality, instances: set of SOPInstanceUIDs} of one study."""
        found = requests.post(self.url + "/tools/lookup", data=study_uid, timeout=10).json()
        study = next(f["ID"] for f in found if f["Type"] == "Study")
        out = {}
        for s in self.get(f"/studies/{study}/series"):
            instances = self.get(f"/series/{s['ID']}/instances")
            out[s["MainDicomTags"]["SeriesInstanceUID"]] = {
                "id": s["ID"], "modality": s["MainDicomTags"].get("Modality"),
                "instances": {i["MainDicomTags"]["SOPInstanceUID"] for i in instances}}
        return out

    def stop(self) -> None:
        """Stop by process id: terminate, then kill if it does not exit."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    plugin = dicomweb_plugin()
    if not Path(ORTHANC).exists() or plugin is None:
        pytest.skip("Debian packages orthanc and orthanc-dicomweb are not installed")
    server = Orthanc(tmp_path_factory.mktemp("orthanc"), plugin)
    yield server
    server.stop()


def uids_of(paths) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for p in paths:
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        out.setdefault(str(ds.SeriesInstanceUID), set()).add(str(ds.SOPInstanceUID))
    return out


def test_pacs_round_trip(orthanc, phantom_inputs, written):
    from dicomweb_client.api import DICOMwebClient

    study_uid = phantom_inputs.results["study_instance_uid"]
    # the study reaches the PACS by C-STORE and can be pulled back over DICOMweb
    assert send_cstore(phantom_inputs.all_files, orthanc.address) == len(phantom_inputs.all_files)
    client = DICOMwebClient(url=orthanc.url + "/dicom-web")
    found = client.search_for_instances(study_instance_uid=study_uid)
    assert len(found) == len(phantom_inputs.all_files)

    out, paths = written
    outputs = [p for p in paths if p.suffix == ".dcm"]
    expected = uids_of(outputs)
    assert send_stow(outputs, orthanc.url + "/dicom-web") == len(outputs)
    listed = orthanc.series_of_study(study_uid)
    for series, instances in expected.items():
        assert listed[series]["instances"] == instances
    assert {listed[s]["modality"] for s in expected} == {"SEG", "SR", "DOC"}

    # remove the outputs, send them again by C-STORE: back under the same study
    for series in expected:
        requests.delete(orthanc.url + f"/series/{listed[series]['id']}", timeout=10).raise_for_status()
    assert set(orthanc.series_of_study(study_uid)).isdisjoint(expected)
    assert send_cstore(outputs, orthanc.address) == len(outputs)
    listed = orthanc.series_of_study(study_uid)
    for series, instances in expected.items():
        assert listed[series]["instances"] == instances
    # a re-send (same deterministic UIDs) replaces rather than duplicates
    assert send_cstore(outputs, orthanc.address) == len(outputs)
    n_instances = sum(len(s["instances"]) for s in orthanc.series_of_study(study_uid).values())
    assert n_instances == len(phantom_inputs.all_files) + len(outputs)


def test_send_failures_are_one_line_and_leave_files(written):
    _, paths = written
    outputs = [p for p in paths if p.suffix == ".dcm"][:1]
    port = free_port()  # nothing listens there
    with pytest.raises(SendError) as err:
        send_cstore(outputs, f"NOBODY@127.0.0.1:{port}", timeout_s=3)
    assert "\n" not in str(err.value) and "left on disk" in str(err.value)
    with pytest.raises(SendError) as err:
        send_stow(outputs, f"http://user:s3cret@127.0.0.1:{port}/dicom-web", timeout_s=3)
    message = str(err.value)
    assert "\n" not in message and "s3cret" not in message and "user" not in message
    with pytest.raises(SendError):
        send_cstore(outputs, "not-an-address")
    assert all(p.is_file() for p in outputs)


@pytest.mark.slow
def test_product_pulls_from_pacs_runs_and_sends_back(orthanc, small_study, small_truth, tmp_path):
    """The study goes into Orthanc; lumbarqi pulls it by DICOMweb, runs, and sends SEG/SR/PDF back
    by C-STORE and by STOW-RS; Orthanc lists them under the same study."""
    import os
    import sys

    from lumbarqi.reporting.send import send_cstore

    send_cstore(sorted((small_study / "DICOM").rglob("*.dcm")), orthanc.address)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "lumbarqi", "run", "--pull-from", orthanc.url + "/dicom-web",
                           "--study", small_truth["study_instance_uid"], "-o", str(out),
                           "--send-to", orthanc.address, "--stow-to", orthanc.url + "/dicom-web"],
                          capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert proc.returncode in (0, 3), proc.stderr
    log = (out / "lumbarqi.log").read_text()
    assert "sent by C-STORE" in log and "sent by STOW-RS" in log, log[-1500:]
    sent = uids_of(sorted((out / "dicom").glob("*.dcm")))
    series = orthanc.series_of_study(small_truth["study_instance_uid"])
    for uid, instances in sent.items():
        assert uid in series and instances <= series[uid]["instances"]
    assert {"SEG", "SR", "DOC"} <= {s["modality"] for s in series.values()}
