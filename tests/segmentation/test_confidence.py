"""Low-confidence flags: which structure not to trust, in results.json, the SR codes and the report."""
from __future__ import annotations

from lumbarqi.reporting import codes
from lumbarqi.reporting.findings import plain_flags
from lumbarqi.segmentation.confidence import FLAG, LOW_CONFIDENCE_BELOW, low_confidence_flags


def test_only_structures_under_their_threshold_are_flagged():
    conf = {"vertebral_body": LOW_CONFIDENCE_BELOW["vertebral_body"] - 0.01, "disc": 0.5, "psoas": 0.99, "multifidus": 0.99}
    flags = low_confidence_flags(conf)
    assert [f["structure"] for f in flags] == ["vertebral_body"] and flags[0]["code"] == FLAG  # discs: no threshold
    assert "vertebral body" in flags[0]["message"] and f"{conf['vertebral_body']:.2f}" in flags[0]["message"]
    assert low_confidence_flags(conf, thresholds={}) == []


def test_flag_has_a_short_code_and_plain_words():
    code, meaning = codes.FLAG[FLAG]
    assert len(code) <= 16 and meaning
    text = plain_flags(low_confidence_flags({"multifidus": 0.5}))
    assert text and text[0].startswith("Segmentation uncertain") and "multifidus" in text[0]
