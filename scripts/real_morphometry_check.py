"""Vertebral-body measurements from network masks vs manual masks on real sagittal cases.

    python scripts/real_morphometry_check.py CASE_DIR... [--json OUT]

Network vertebral bodies take the level name of the manual body they overlap most (so the
comparison is of the measurements, not of level naming); both maps are measured by
``lumbarqi.morphometry.spine.measure_spine``; Pearson R, ICC(2,1), Bland-Altman as
``lumbarqi validate`` computes them.
"""
import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from lumbarqi import labels as L
from lumbarqi.geometry import LPS_TO_RAS
from lumbarqi.morphometry.compare import agreement
from lumbarqi.morphometry.io import geometry_from_nifti_affine
from lumbarqi.morphometry.spine import measure_spine
from lumbarqi.run.masks import load_engine
from lumbarqi.segmentation.cases import fold_label_name


def sagittal_layout(img):
    """Array [col, row, slice] with slices along left-right and a right-handed affine."""
    img = nib.as_closest_canonical(img)
    data = np.asarray(img.dataobj)
    perm = (1, 2, 0)  # (A, S, R) -> slices along x
    data = data.transpose(perm)
    aff = img.affine[:, list(perm) + [3]]
    lps = np.linalg.inv(LPS_TO_RAS) @ aff
    if np.dot(np.cross(lps[:3, 0], lps[:3, 1]), lps[:3, 2]) < 0:
        data = data[:, :, ::-1]
        aff = aff.copy()
        aff[:3, 3] = aff[:3, 3] + aff[:3, 2] * (data.shape[2] - 1)
        aff[:3, 2] = -aff[:3, 2]
    return data, aff


def main(argv):
    json_out = argv[argv.index("--json") + 1] if "--json" in argv else None
    cases = [Path(a) for a in argv if not a.startswith("--") and a != json_out]
    pairs = {}
    for case in cases:
        meta = json.loads((case / "meta.json").read_text())
        img_data, aff = sagittal_layout(nib.load(case / "image.nii.gz"))
        lab_data, _ = sagittal_layout(nib.load(case / "label.nii.gz"))
        image = np.ascontiguousarray(img_data.transpose(2, 1, 0)).astype(np.float32)
        manual_raw = np.ascontiguousarray(lab_data.transpose(2, 1, 0)).astype(np.int32)
        geom = geometry_from_nifti_affine(aff, image.shape)
        manual = np.zeros(manual_raw.shape, np.uint8)
        for num, name in meta["labels"].items():
            struct, level, _ = fold_label_name(name)
            if struct == "vertebral_body" and level in L.VERTEBRA_LABEL:
                manual[manual_raw == int(num)] = L.VERTEBRA_LABEL[level]
        if not manual.any():
            continue
        seg = load_engine("models/vertebrae").segment(image, geom.affine())
        comps, n = ndimage.label(seg.mask("vertebral_body"))
        net = np.zeros_like(manual)
        for i in range(1, n + 1):
            m = comps == i
            under = manual[m]
            under = under[under > 0]
            if under.size > 0.3 * m.sum():
                net[m] = np.bincount(under).argmax()
        _, vm, _, _ = measure_spine(manual, geom)
        _, vn, _, _ = measure_spine(net, geom)
        for level in vm:
            for k, v in vm[level].items():
                if isinstance(v, (int, float)) and k in vn.get(level, {}):
                    pairs.setdefault(k, []).append((v, vn[level][k]))
        print(case.name, "levels manual", sorted(vm), "network", sorted(vn), flush=True)
    out = {}
    for k, v in sorted(pairs.items()):
        a = np.array(v)
        out[k] = agreement(a[:, 1], a[:, 0])
        print(f"{k:22s} n={len(a):3d} " + " ".join(f"{x}={out[k][x]:.3f}" for x in out[k] if isinstance(out[k][x], float)))
    if json_out:
        Path(json_out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
