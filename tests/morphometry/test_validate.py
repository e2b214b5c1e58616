"""``lumbarqi validate``: dictionary walk, agreement statistics, JSON and figure."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lumbarqi.cli import main
from lumbarqi.morphometry.compare import agreement, family, flatten, icc_2_1


def test_flatten_and_families():
    res = {"discs": {"L4/L5": {"height_mean_mm": 10.0, "degenerated": True}}, "lordosis_deg": 40.0,
           "muscles": {"L4/L5": {"psoas": {"left": {"csa_mm2": 1000.0, "centroid_mm": [30.0, 5.0]}}}}, "flags": [{"code": "x"}]}
    flat = flatten(res)
    assert flat == {"discs.L4/L5.height_mean_mm": 10.0, "lordosis_deg": 40.0, "muscles.L4/L5.psoas.left.csa_mm2": 1000.0,
                    "muscles.L4/L5.psoas.left.centroid_lateral_mm": 30.0, "muscles.L4/L5.psoas.left.centroid_anterior_mm": 5.0}
    assert family("discs.L4/L5.height_mean_mm") == "discs.height_mean_mm"
    assert family("muscles.L4/L5.psoas.left.csa_mm2") == "muscles.psoas.csa_mm2"


def test_agreement_statistics():
    ref = np.array([8.0, 9.0, 10.0, 11.0, 12.0, 13.0])
    same = agreement(ref, ref)
    assert same["pearson_r"] == 1.0 and same["icc_2_1"] == 1.0 and same["bias"] == 0.0
    shifted = agreement(ref + 1.0, ref)
    assert shifted["pearson_r"] == 1.0 and shifted["bias"] == 1.0 and shifted["loa_low"] == shifted["loa_high"] == 1.0
    assert 0.0 < shifted["icc_2_1"] < 1.0  # absolute agreement penalises the offset
    # Shrout & Fleiss (1979) example, 6 targets x 4 judges: ICC(2,1) = 0.29
    judges = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)
    assert icc_2_1(*judges.T) == pytest.approx(0.29, abs=0.005)


def test_validate_cli_writes_json_and_figure(small_study, tmp_path, capsys):
    from lumbarqi.morphometry.truthcheck import check_study

    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(check_study(small_study)))
    out = tmp_path / "val"
    assert main(["validate", "--auto", str(run), "--reference", str(small_study), "--out", str(out)]) == 0
    report = json.loads((out / "validation.json").read_text())
    assert (out / "validation.png").stat().st_size > 10_000 and (out / "validation.pdf").is_file()
    m = report["measures"]["discs.height_mean_mm"]
    assert m["n"] == 6 and m["pearson_r"] > 0.9 and abs(m["bias"]) < 0.3
    assert report["measures"]["muscles.psoas.csa_mm2"]["icc_2_1"] > 0.9
    # Dice where both sides list label maps: the phantom against itself
    assert main(["validate", "--auto", str(small_study), "--reference", str(small_study), "--out", str(out), "--no-figure"]) == 0
    report = json.loads((out / "validation.json").read_text())
    assert report["dice"]["mean"]["disc"] == 1.0 and report["dice"]["mean"]["psoas"] == 1.0


def test_validate_cli_user_errors(tmp_path, capsys):
    assert main(["validate", "--auto", str(tmp_path)]) == 2
    assert "--reference" in capsys.readouterr().err
    assert main(["validate", "--auto", str(tmp_path), "--reference", str(tmp_path)]) == 2
    assert "neither results.json nor truth.json" in capsys.readouterr().err
