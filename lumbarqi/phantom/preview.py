"""A picture of a phantom study: mid-sagittal T1 and an axial T1 slice with truth contours."""
from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom


def _series_files(study: Path, number: int) -> list[Path]:
    return sorted((study / "DICOM" / f"S{number:03d}").glob("*.dcm"), key=lambda p: int(pydicom.dcmread(p, stop_before_pixels=True).InstanceNumber))


def write_preview(study: Path, png: Path) -> Path:
    """Render ``png`` from a phantom folder written by :func:`generate_study`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = json.loads((study / "truth.json").read_text())
    sag = truth["series"]["sagittal_t1"]
    ax = truth["series"]["axial_t1"][0]
    maps = truth["phantom"]["truth_label_maps"]
    slices = truth["phantom"]["muscle_slices"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 6.2), facecolor="black")
    panels: list[tuple[dict, str, int | None]] = [(sag, maps[sag["series_instance_uid"]][0], None)]
    level = "L4/L5" if "L4/L5" in slices else next(iter(slices), None)
    ax_slice = slices[level]["slice_index"] if level else 0
    ax_stack = slices[level]["stack"] if level else 0
    ax_uid = slices[level]["series_instance_uid"] if level else ax["series_instance_uid"]
    ax_number = next(s["series_number"] for s in truth["series"]["axial_t1"] if s["series_instance_uid"] == ax_uid)
    panels.append(({"series_number": ax_number, "description": ax["description"]}, maps[ax_uid][ax_stack], ax_slice))
    for axis, (entry, label_rel, k) in zip(axes, panels, strict=False):
        label = np.asarray(nib.load(study / label_rel).dataobj).transpose(2, 1, 0)  # type: ignore[attr-defined]  # Nifti1Image
        files = _series_files(study, entry["series_number"])
        offset = sum(nib.load(study / r).shape[2] for r in maps[ax_uid][:ax_stack]) if k is not None else 0  # type: ignore[attr-defined]
        k = label.shape[0] // 2 if k is None else k
        image = pydicom.dcmread(files[offset + k]).pixel_array
        axis.imshow(image, cmap="gray", vmax=np.percentile(image, 99.5))
        for value in np.unique(label[k]):
            if value and value != 30:
                axis.contour(label[k] == value, levels=[0.5], linewidths=0.7, colors=[plt.cm.tab20(int(value) % 20)])
        title = f"{entry['description']}  slice {k + 1}" + (f"  (nearest {level})" if entry is not sag else "  (mid-sagittal)")
        axis.set_title(title, color="white", fontsize=10)
        axis.axis("off")
    fig.suptitle(f"lumbarqi phantom, seed {truth['phantom']['seed']}: T1 with truth contours", color="white")
    fig.tight_layout()
    fig.savefig(png, dpi=110, facecolor="black")
    plt.close(fig)
    return png
