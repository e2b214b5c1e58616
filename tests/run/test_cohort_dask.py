"""``--cohort --scheduler``: a real Dask scheduler and two workers on loopback, one killed mid-run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASK = Path(sys.executable).parent / "dask"
SEEDS = (41, 42, 43, 44)


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), HOLOSCAN_LOG_LEVEL="ERROR")


def _cohort(inp: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lumbarqi", "run", "--cohort", "-i", str(inp), "-o", str(out), "--no-dicom", *extra]


def _measurements(path: Path) -> dict:
    results = json.loads(path.read_text())
    results.pop("timings_s", None)  # seconds differ from run to run; everything else must not
    return results


@pytest.fixture(scope="module")
def four_studies(tmp_path_factory) -> Path:
    from lumbarqi.phantom.generate import generate_study

    root = tmp_path_factory.mktemp("dask") / "studies"
    for seed in SEEDS:
        generate_study(root / f"patient{seed}", seed, preset="small")
    return root


@pytest.fixture()
def cluster(tmp_path):
    """``dask scheduler`` and two ``dask worker --nthreads 1 --no-nanny`` processes on 127.0.0.1."""
    procs: dict[str, subprocess.Popen] = {}
    sched_file = tmp_path / "scheduler.json"
    logs = tmp_path / "dask_logs"
    logs.mkdir()
    try:
        procs["scheduler"] = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address", ":0",
                                               "--scheduler-file", str(sched_file)], env=_env(), cwd=tmp_path,
                                              stdout=open(logs / "scheduler.log", "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        for name in ("w1", "w2"):
            procs[name] = subprocess.Popen([str(DASK), "worker", address, "--nthreads", "1", "--no-nanny", "--memory-limit", "0",
                                            "--name", name], env=_env(), cwd=tmp_path,
                                           stdout=open(logs / f"{name}.log", "w"), stderr=subprocess.STDOUT)
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=90)
        yield address, procs
    finally:
        for p in procs.values():  # only the processes this fixture started
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.mark.slow
def test_dask_cohort_survives_a_killed_worker(four_studies, cluster, tmp_path):
    from distributed import Client

    address, procs = cluster
    local = subprocess.run(_cohort(four_studies, tmp_path / "local", "--workers", "2"), env=_env(), capture_output=True, text=True,
                           timeout=600)
    assert local.returncode == 0, local.stdout + local.stderr
    local_workers = {s["worker"] for s in json.loads((tmp_path / "local" / "cohort.json").read_text())["studies"]}
    assert len(local_workers) == 2, local_workers  # four studies, two warm worker processes: no start-up per study

    out = tmp_path / "dask"
    run = subprocess.Popen(_cohort(four_studies, out, "--scheduler", address), env=_env(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    killed = None
    with Client(address, timeout="30s") as client:
        names = {addr: info["name"] for addr, info in client.scheduler_info(n_workers=-1)["workers"].items()}
        pids = {names[addr]: pid for addr, pid in client.run(os.getpid).items()}
        assert pids == {name: procs[name].pid for name in ("w1", "w2")}
        deadline = time.monotonic() + 300
        while killed is None and time.monotonic() < deadline and run.poll() is None:
            info = client.scheduler_info(n_workers=-1)["workers"]
            busy = {addr: keys for addr, keys in client.processing().items() if keys}
            if len(busy) == 2 and (out / "cohort.json").exists():  # one study finished, both workers on the next
                addr, keys = sorted(busy.items())[0]
                killed = (info[addr]["name"], list(keys)[0])
                procs[killed[0]].send_signal(signal.SIGKILL)  # the worker dies mid-study
            time.sleep(0.2)
    log = run.communicate(timeout=600)[0]
    assert killed is not None, f"no moment with both workers busy:\n{log}"
    assert run.returncode == 0, log

    summary = json.loads((out / "cohort.json").read_text())
    names = [s["name"] for s in summary["studies"]]
    assert sorted(names) == [f"patient{s}" for s in SEEDS]  # every study once
    assert all(s["status"] == "done" for s in summary["studies"])
    finished_lines = [ln for ln in log.splitlines() if ln.startswith("[") and ": done" in ln]
    assert sorted(ln.split("] ")[1].split(":")[0] for ln in finished_lines) == sorted(names)  # each reported exactly once
    survivor = "w2" if killed[0] == "w1" else "w1"
    by_uid = {s["study_instance_uid"]: s for s in summary["studies"]}
    redone = by_uid[killed[1].removeprefix("lumbarqi-study-")]
    assert redone["worker"].endswith(f":{procs[survivor].pid}"), "the killed worker's study was not run again on the other one"
    assert not list((out / ".cohort" / "partial").glob("*")), "half-written study left behind"
    for name in names:
        assert _measurements(out / name / "results.json") == _measurements(tmp_path / "local" / name / "results.json"), name
