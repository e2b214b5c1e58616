"""Run lumbarqi on phantom studies and score it against their truth.

    python scripts/e2e_phantom_check.py OUT_DIR STUDY_DIR... [--no-dicom]

Per study: series selection right or wrong; level naming accuracy (share of truth
discs T12/L1..L5/S1 and vertebrae T12..L5 whose voxels carry the same level label in the
run's sagittal map); Dice per structure on the sagittal and axial maps; then
``lumbarqi validate`` compares every measurement (Pearson R, ICC, Bland-Altman).
"""
import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

from lumbarqi import labels as L


def _map(path: Path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj)


def score(study: Path, run: Path) -> dict:
    truth = json.loads((study / "truth.json").read_text())
    res = json.loads((run / "results.json").read_text())
    sel_ok = (res["series"]["sagittal_t1"] or {}).get("series_instance_uid") == truth["series"]["sagittal_t1"]["series_instance_uid"] and \
        sorted(a["series_instance_uid"] for a in res["series"]["axial_t1"]) == sorted(a["series_instance_uid"] for a in truth["series"]["axial_t1"])
    out = {"study": study.name, "selection_ok": bool(sel_ok), "levels": None, "dice": {}}
    sag_uid = truth["series"]["sagittal_t1"]["series_instance_uid"]
    run_maps = res.get("label_maps", {})
    if sag_uid in run_maps:
        t = _map(study / truth["phantom"]["truth_label_maps"][sag_uid][0])
        r = _map(run / run_maps[sag_uid][0])
        hits, total = 0, 0
        for _name, value in [*((d, L.DISC_LABEL[d]) for d in L.REPORTED_DISCS), *((v, L.VERTEBRA_LABEL[v]) for v in L.REPORTED_VERTEBRAE)]:
            vox = r[t == value]
            if vox.size < 20:
                continue
            total += 1
            named = vox[vox > 0]
            hits += int(bool(named.size) and np.bincount(named).argmax() == value)
        out["levels"] = float(hits / total) if total else None
        for struct, values in (("vertebral_body", [L.VERTEBRA_LABEL[v] for v in L.VERTEBRAE if v != "S1"]), ("disc", list(L.DISC_LABEL.values())), ("sacrum", [L.VERTEBRA_LABEL["S1"]])):
            a, b = np.isin(t, values), np.isin(r, values)
            if a.sum():
                out["dice"][struct] = round(float(2 * (a & b).sum() / (a.sum() + b.sum())), 4)
    for ax in truth["series"]["axial_t1"]:
        uid = ax["series_instance_uid"]
        for i, rel in enumerate(truth["phantom"]["truth_label_maps"].get(uid, [])):
            if uid not in run_maps or i >= len(run_maps[uid]):
                continue
            t, r = _map(study / rel), _map(run / run_maps[uid][i])
            for m in L.MUSCLES:
                values = [L.MUSCLE_LABEL[(m, s)] for s in L.SIDES]
                a, b = np.isin(t, values), np.isin(r, values)
                if a.sum() > 50:
                    out["dice"].setdefault(m, []).append(float(2 * (a & b).sum() / (a.sum() + b.sum())))
    for m in L.MUSCLES:
        if isinstance(out["dice"].get(m), list):
            out["dice"][m] = round(float(np.mean(out["dice"][m])), 4)
    return out


def main(argv: list[str]) -> None:
    out = Path(argv[0])
    flags = [a for a in argv[1:] if a.startswith("--")]
    studies = [Path(a) for a in argv[1:] if not a.startswith("--")]
    rows = []
    for study in studies:
        run = out / study.name
        if not (run / "results.json").exists():
            proc = subprocess.run([sys.executable, "-m", "lumbarqi", "run", "-i", str(study / "DICOM"), "-o", str(run), *flags], capture_output=True, text=True)
            print(f"{study.name}: exit {proc.returncode} {proc.stderr.strip()[-200:]}", flush=True)
        rows.append(score(study, run))
        print(json.dumps(rows[-1]), flush=True)
    summary = {"studies": len(rows), "selection_ok": int(sum(bool(r["selection_ok"]) for r in rows)),
               "level_accuracy_mean": float(np.mean([r["levels"] for r in rows if r["levels"] is not None])) if rows else None,
               "levels_all_correct": int(sum(r["levels"] == 1.0 for r in rows)),
               "dice_mean": {k: round(float(np.mean([r["dice"][k] for r in rows if k in r["dice"]])), 4) for k in {k for r in rows for k in r["dice"]}}}
    (out / "e2e_summary.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
