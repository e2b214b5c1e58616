"""Level naming on real spines: a few SPIDER label maps from ../shared/data (small T1 cases).

The full evaluation (43 spines, every condition) is scripts/eval_levels_spider.py; its
figures are in docs/levels.md.
"""
from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest

from lumbarqi import labels as L
from lumbarqi.levels_eval import condition, evaluate_spine, product_naming, score
from lumbarqi.levels_real import read_spider

SPIDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "spider_masks_sagittal"  # as tests/conftest.py
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "eval_levels_spider.py"
CASES = ("spider_104_t1", "spider_226_t1")  # 15 slices of 320 x 320: about 3 s each for every condition
pytestmark = pytest.mark.skipif(not all((SPIDER / c / "label.nii.gz").exists() for c in CASES),
                                reason="../shared/data/spider_masks_sagittal not present")


@pytest.fixture(scope="module")
def spines():
    return {c: read_spider(SPIDER / c) for c in CASES}


def test_bodies_lie_anterior_to_the_canal(spines):
    for spine in spines.values():
        geom = spine.geometry
        canal = geom.voxel_to_lps(np.argwhere(spine.label == L.CANAL_LABEL))
        assert (spine.label == L.POSTERIOR_ELEMENTS_LABEL).any() and not spine.notes
        for name in ("T12", "L1", "L2", "L3", "L4", "L5"):
            body = geom.voxel_to_lps(np.argwhere(spine.label == L.VERTEBRA_LABEL[name]))
            vol_cm3 = len(body) * geom.row_spacing_mm * geom.col_spacing_mm * geom.slice_spacing_mm / 1000
            assert 15 < vol_cm3 < 70, (spine.name, name, vol_cm3)
            near = canal[np.abs(canal[:, 2] - body[:, 2].mean()) < 10]
            # LPS: anterior is -y; every body voxel in front of the canal's mean at that height
            assert np.percentile(body[:, 1], 99) < near[:, 1].mean(), (spine.name, name)


def test_every_level_named_from_the_sacrum(spines):
    for spine in spines.values():
        body, disc, sacrum, truth, geom = condition(spine, "sacrum")
        assert sacrum.sum() > 0
        naming = product_naming(body, disc, sacrum, geom)
        levels = score(truth, naming.label)
        assert naming.anchored and set(levels.values()) == {"right"}, (spine.name, levels)
        assert {"L5", "L5/S1", "T12/L1", "T12"} <= set(levels)
        assert not [f for f in naming.flags if f["code"] != "level_above_t10"], naming.flags


def test_no_sacrum_or_fov_above_it_is_flagged_never_guessed(spines):
    for spine in spines.values():
        for cond in ("no_sacrum", "fov_no_sacrum"):
            body, disc, sacrum, _, geom = condition(spine, cond)
            naming = product_naming(body, disc, sacrum, geom)
            assert not naming.label.any() and not naming.anchored
            assert "sacrum_not_in_fov" in {f["code"] for f in naming.flags}


@pytest.mark.parametrize("cond", ["sacralised_l5_no_disc", "rudimentary_l5s1", "six_lumbar_rudimentary"])
def test_transitional_anatomy_is_flagged(spines, cond):
    for spine in spines.values():
        result = evaluate_spine(spine, (cond,))["conditions"][cond]
        assert "transitional_anatomy" in result["flags"], (spine.name, result["flags"])
        assert not [s for s in result["levels"].values() if s.startswith("wrong")], result["levels"]


def test_eval_script_writes_the_table(tmp_path, capsys):
    out = tmp_path / "levels.json"
    ns = runpy.run_path(str(SCRIPT), run_name="not_main")
    rc = ns["main"](["--spider", str(SPIDER), "--cases", CASES[0], "--conditions", "sacrum,no_sacrum", "--json", str(out)])
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["summary"]["sacrum"]["right_pct"] == 100.0 and data["summary"]["no_sacrum"]["flagged_pct"] == 100.0
    assert "| L4/L5 | 1/1 | 0/1 |" in capsys.readouterr().out
