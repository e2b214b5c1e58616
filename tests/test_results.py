import csv
import json
import math

from lumbarqi.results import csv_rows, flag, new_results, write_results


def test_results_written_whole_with_csv_rows(tmp_path):
    r = new_results("1.2.3")
    r["discs"]["L4/L5"] = {"height_mean_mm": 11.2, "height_anterior_mm": math.nan}
    r["muscles"]["L4/L5"] = {"psoas": {"left": {"csa_mm2": 1500.0, "centroid_mm": [40.0, 5.0]}}}
    r["loads"]["standing"] = {"L4/L5": {"compression_n": 600.0}}
    flag(r, "test", "a flag", level="L4/L5")
    write_results(tmp_path, r)
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["schema_version"].startswith("1.")
    assert "height_anterior_mm" not in data["discs"]["L4/L5"]  # absent, never NaN
    assert data["outputs"] == ["results.csv", "results.json"]
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    measures = {(row["section"], row["measure"]) for row in rows}
    assert ("discs", "height_mean_mm") in measures and ("loads", "compression_n") in measures
    assert ("muscles", "centroid_mm_lateral") in measures
    assert not list(tmp_path.glob("*.part"))


def test_csv_units():
    r = new_results("1")
    r["lordosis_deg"] = 40.0
    row = [x for x in csv_rows(r) if x["measure"] == "lordosis_deg"][0]
    assert row["unit"] == "deg"
