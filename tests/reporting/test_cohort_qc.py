"""The cohort QC page: offline HTML rendered in headless Chromium (rows, highlighted outliers, sorting by click)."""
from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lumbarqi.reporting.cohort_qc import METRICS, Z_LIMIT, build_page, collect, robust_z, write_qc_page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
KEYS = [m.key for m in METRICS]


def chromium(url: str, *args: str, timeout: int = 60) -> str:
    """Run headless Chromium on ``url`` (no sandbox: tests may run as root); returns stdout."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--user-data-dir=" + str(Path(url.split("#")[0][7:]).parent / ".chromium"), *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True).stdout


def study_rows(dom: str) -> list[str]:
    """Names of the study rows in the order the page shows them."""
    return re.findall(r'<tr class="study[^"]*"[^>]*><td class="txt" data-v="([^"]+)"', dom)


@pytest.fixture(scope="module")
def cohort_out(written, phantom_inputs, tmp_path_factory) -> Path:
    """A cohort output folder: 4 studies from the reporting run (one with huge multifidus areas), 1 failed."""
    out_dir, _ = written
    root = tmp_path_factory.mktemp("cohort_qc") / "out"
    studies = []
    for i, name in enumerate(["s1", "s2", "s3", "s4"]):
        folder = root / name
        shutil.copytree(out_dir / "overlays", folder / "overlays")
        shutil.copy(out_dir / "report.pdf", folder / "report.pdf")
        r = copy.deepcopy(phantom_inputs.results)
        for sides in r["muscles"]["L4/L5"].values():
            for e in sides.values():
                e["csa_mm2"] = e["csa_mm2"] * (3.0 if name == "s3" else 1 + 0.02 * i)
                e.pop("csa_cm2", None)
        r["lordosis_deg"] = r.get("lordosis_deg", 40.0) + i
        r["segmentation_confidence"] = {"disc": 0.9 + 0.01 * i, "multifidus": 0.95}
        (folder / "results.json").write_text(json.dumps(r))
        studies.append({"name": name, "status": "done", "message": ""})
    studies.append({"name": "s5_broken", "status": "failed", "message": "no sagittal T1 series"})
    (root / "cohort.json").write_text(json.dumps({"studies": studies}))
    write_qc_page(root)
    return root


def test_robust_z():
    z = robust_z([10.0, 11.0, 9.0, 10.5, 30.0, None])
    assert z[-1] is None and abs(z[4]) > Z_LIMIT and all(abs(v) < Z_LIMIT for v in z[:4])
    assert robust_z([1.0, None]) == [None, None]  # too few values: no judgement
    assert robust_z([5.0, 5.0, 5.0, 9.0])[3] > Z_LIMIT  # MAD 0: mean absolute deviation instead


def test_page_offline_and_complete(cohort_out):
    page = (cohort_out / "index.html").read_text()
    assert not re.search(r'(src|href)="(https?:)?//', page), "external reference in an offline page"
    assert page.count("data:image/jpeg;base64,") == 8  # sagittal and axial thumbnail per finished study
    assert "robust z" in page and "MAD" in page  # the outlier rule is stated
    assert 'href="s1/report.pdf"' in page and 'href="s1/overlays/sagittal_mid.png"' in page
    entries = collect(cohort_out)
    assert [e.name for e in entries] == ["s1", "s2", "s3", "s4", "s5_broken"]
    assert build_page(entries, generated="x") == build_page(entries, generated="x")  # pure


def test_failed_only_cohort():
    page = build_page([], generated="x")
    assert "0 studies" in page
    from lumbarqi.reporting.cohort_qc import StudyEntry

    page = build_page([StudyEntry("a", "failed", "exit status 1")], generated="x")
    assert 'class="study failed"' in page and "exit status 1" in page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium (Debian package) not installed")
def test_page_in_headless_chromium(cohort_out, tmp_path):
    url = (cohort_out / "index.html").resolve().as_uri()
    dom = chromium(url, "--dump-dom")
    assert study_rows(dom) == ["s1", "s2", "s3", "s4", "s5_broken"]
    assert len(re.findall(r'<tr class="study failed"', dom)) == 1
    s3 = re.search(r'<tr class="study"[^>]*><td class="txt" data-v="s3".*?</tr>', dom, re.S).group(0)
    col = {k: 4 + i for i, k in enumerate(KEYS)}
    cells = re.findall(r"<td[^>]*>", s3)
    for key in ("mf_l45_l", "mf_l45_r", "es_l45_l"):
        assert "class=\"out\"" in cells[col[key]] or "class=out" in cells[col[key]], key
    others = re.findall(r'<tr class="study"[^>]*><td class="txt" data-v="s[124]".*?</tr>', dom, re.S)
    assert all("class=\"out\"" not in r and "class=out" not in r for r in others)
    # sorting: the page's own click handler, triggered from the address (#sort=-KEY clicks twice: descending)
    dom = chromium(url + "#sort=-mf_l45_l", "--dump-dom")
    assert study_rows(dom)[0] == "s3" and study_rows(dom)[-1] == "s5_broken"  # missing values last
    assert re.search(r'<th data-key="mf_l45_l"[^>]*class="sorted-desc"|class="sorted-desc"[^>]*data-key="mf_l45_l"', dom)
    dom = chromium(url + "#sort=lordosis", "--dump-dom")
    assert study_rows(dom) == ["s1", "s2", "s3", "s4", "s5_broken"]
    dom = chromium(url + "#sort=-lordosis", "--dump-dom")
    assert study_rows(dom) == ["s4", "s3", "s2", "s1", "s5_broken"]
    shot = tmp_path / "qc.png"
    chromium(url, f"--screenshot={shot}", "--window-size=1400,900")
    assert shot.stat().st_size > 20_000


def test_cohort_qc_command(cohort_out, tmp_path):
    """``lumbarqi cohort-qc OUT`` writes the page again; a missing folder is one line, exit 4."""
    import os
    import sys

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    (cohort_out / "index.html").unlink()
    done = subprocess.run([sys.executable, "-m", "lumbarqi", "cohort-qc", str(cohort_out)], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0 and "index.html" in done.stdout
    assert len(study_rows((cohort_out / "index.html").read_text())) == 5
    bad = subprocess.run([sys.executable, "-m", "lumbarqi", "cohort-qc", str(tmp_path / "nope")], capture_output=True,
                         text=True, timeout=120, env=env)
    assert bad.returncode == 4 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
