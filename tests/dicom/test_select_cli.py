"""``lumbarqi select``: decisions for every study under a folder, headers only."""
import json
import shutil

from lumbarqi.cli import main
from lumbarqi.phantom.generate import generate_study


def test_select_reports_every_study_with_reasons_and_substitutions(small_study, small_truth, tmp_path, capsys):
    root = tmp_path / "archive"
    shutil.copytree(small_study / "DICOM", root / "a")
    generate_study(tmp_path / "b", 12, preset="small")
    truth_b = json.loads((tmp_path / "b" / "truth.json").read_text())
    shutil.copytree(tmp_path / "b" / "DICOM", root / "b")
    for entry in [truth_b["series"]["sagittal_t1"], *truth_b["series"]["axial_t1"]]:  # study b: T2 only
        shutil.rmtree(root / "b" / f"S{entry['series_number']:03d}")
    out = tmp_path / "decisions.json"
    assert main(["select", "-i", str(root), "--json", str(out)]) == 0
    table = capsys.readouterr().out
    studies = {d["study_instance_uid"]: d for d in json.loads(out.read_text())["studies"]}
    assert set(studies) == {small_truth["study_instance_uid"], truth_b["study_instance_uid"]}
    a, b = studies[small_truth["study_instance_uid"]], studies[truth_b["study_instance_uid"]]
    assert set(a["series"]) == {"sagittal_t1", "axial_t1", "rejected"}  # results.json's series keys
    assert a["series"]["sagittal_t1"]["series_instance_uid"] == small_truth["series"]["sagittal_t1"]["series_instance_uid"]
    assert sum(len(e["stacks"]) for e in a["series"]["axial_t1"]) >= 1 and a["substitutions"] == []
    assert all(e["reason"] for e in a["series"]["rejected"])
    assert b["series"]["sagittal_t1"]["weighting"] == "T2"
    assert {s["role"] for s in b["substitutions"]} == {"sagittal_t1", "axial_t1"}
    assert "study 1/2" in table and "study 2/2" in table and "sagittal T2 for T1" in table
    assert "PHANTOM" not in table  # no patient names


def test_select_on_a_folder_without_images_says_so(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("no images here")
    assert main(["select", "-i", str(tmp_path)]) == 4
    assert main(["select", "-i", str(tmp_path / "missing")]) == 4
    assert "does not exist" in capsys.readouterr().err
