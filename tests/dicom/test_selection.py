"""Series selection on phantom studies: right series every time, reasons logged, rules overridable."""
import json
import shutil
from pathlib import Path

import pytest

from lumbarqi.dicom.scan import scan_folder
from lumbarqi.dicom.selection import load_rules, select_series
from lumbarqi.errors import LumbarqiError
from lumbarqi.phantom.generate import generate_study


@pytest.fixture(scope="module")
def ten_studies(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("ten")
    modes = ["straight", "tilted"]
    out = []
    for i in range(10):
        d = root / f"s{i}"
        generate_study(d, 200 + i, preset="small", axial=modes[i % 2])
        out.append(d)
    return out


def _uids(entries):
    return sorted(e["series_instance_uid"] for e in entries)


def test_selector_picks_the_right_series_on_ten_studies(ten_studies):
    rules = load_rules()
    for study_dir in ten_studies:
        truth = json.loads((study_dir / "truth.json").read_text())
        report = scan_folder(study_dir)
        assert len(report.studies) == 1
        sel = select_series(next(iter(report.studies.values())), rules).as_dict()
        assert sel["sagittal_t1"]["series_instance_uid"] == truth["series"]["sagittal_t1"]["series_instance_uid"], study_dir
        assert _uids(sel["axial_t1"]) == _uids(truth["series"]["axial_t1"]), study_dir
        assert _uids(sel["rejected"]) == _uids(truth["series"]["rejected"]), study_dir
        assert all(e["reason"] for e in sel["rejected"])


def test_tilted_blocks_in_one_series_become_several_stacks(ten_studies):
    rules = load_rules()
    seen = 0
    for study_dir in ten_studies:
        truth = json.loads((study_dir / "truth.json").read_text())
        sel = select_series(next(iter(scan_folder(study_dir).studies.values())), rules)
        for choice in sel.axial_t1:
            n_maps = len(truth["phantom"]["truth_label_maps"][choice.series.series_instance_uid])
            assert len(choice.stacks) == n_maps
            seen += n_maps > 1
    assert seen >= 1


def test_scan_skips_junk_and_non_images(small_study, tmp_path):
    shutil.copytree(small_study / "DICOM", tmp_path / "DICOM")
    (tmp_path / "notes.txt").write_text("not dicom")
    (tmp_path / "empty.dcm").write_bytes(b"")
    first = sorted((tmp_path / "DICOM").rglob("*.dcm"))[0]
    (tmp_path / "truncated.dcm").write_bytes(first.read_bytes()[:300])
    report = scan_folder(tmp_path)
    assert report.not_dicom + report.not_image >= 3
    assert len(report.studies) == 1
    n_images = sum(len(s.instances) for s in next(iter(report.studies.values())).series.values())
    assert n_images == len(list((small_study / "DICOM").rglob("*.dcm")))


def test_site_rules_override(small_study, tmp_path):
    rules = load_rules()
    rules["selections"][0]["conditions"]["min_slices"] = 99
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(rules))
    sel = select_series(next(iter(scan_folder(small_study).studies.values())), load_rules(path))
    assert sel.sagittal_t1 is None and sel.axial_t1
    with pytest.raises(LumbarqiError):
        (tmp_path / "bad.json").write_text("{")
        load_rules(tmp_path / "bad.json")
