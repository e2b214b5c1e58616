"""SPIDER label maps as training cases: vertebral bodies split from the whole-vertebra labels.

SPIDER (van der Graaf et al., Sci Data 2024) labels each vertebra whole (body and
posterior elements), the discs and the spinal canal. lumbarqi segments vertebral
bodies, so the body is derived here, in canonical RAS+ voxel order (axis 0 R,
axis 1 A, axis 2 S; sagittal slices are ``volume[i]``):

* the canal's anterior wall is found per sagittal slice and cranio-caudal row
  (the most anterior canal voxel); slices lateral of the canal take the wall of
  the nearest slice that has one, rows without canal the nearest row's;
* a vertebra's body is its voxels anterior of that wall by more than
  ``wall_margin_mm`` (the posterior longitudinal ligament side of the body), the
  largest 3D connected piece of them (pedicle stubs are dropped);
* a body caudal of the lowest disc (the sacrum's top, or an L5 whose L5/S1 disc the
  crop left out) keeps its own value but no name in ``meta.json``: it is never taught,
  neither as a vertebral body nor as background (the sacrum class stays unlabelled);
* what is left of the vertebra is written as ``posterior elements`` (not a
  segmentation class: taught as background), the canal as ``spinal canal``.

Two kinds of case folder are written (``prepare_cases``): real images with these
labels (``vertebrae_discs_t2space``), and label maps without an image
(``spider_masks_sagittal``): their ``meta.json`` says ``"synthesise": true`` and
training makes a new image from the labels for every sample
(:mod:`lumbarqi.segmentation.synth`).
"""
from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

POSTERIOR_ELEMENTS = 150  # label value of everything of a vertebra that is not its body
CANAL = 100
SACRUM = 3  # label value of the unnamed piece caudal of the lowest disc (see above)
A_AXIS, S_AXIS = 1, 2  # canonical RAS+: anterior, superior


def canal_front(canal: np.ndarray) -> np.ndarray:
    """(R, S) index along A of the canal's anterior wall, filled from the nearest slice and row (-1: no canal)."""
    n_a = canal.shape[A_AXIS]
    a_idx = np.arange(n_a)[None, :, None]
    front = np.where(canal, a_idx, -1).max(axis=A_AXIS).astype(float)  # (R, S)
    have = front >= 0
    if not have.any():
        return np.full(front.shape, -1.0)
    # nearest defined (slice, row) by a distance transform over the (R, S) grid
    _, (ri, si) = ndimage.distance_transform_edt(~have, return_indices=True)
    return front[ri, si]


def vertebral_bodies(label: np.ndarray, vertebra_values: list[int], canal: np.ndarray,
                     spacing_mm: tuple[float, float, float], wall_margin_mm: float = 1.0) -> np.ndarray:
    """Label map with each vertebra value kept only on its body (canonical RAS+); the rest of it
    becomes :data:`POSTERIOR_ELEMENTS`. Without a canal, vertebrae are left whole."""
    out = label.copy()
    front = canal_front(canal)
    if (front < 0).all():
        return out
    margin = wall_margin_mm / spacing_mm[A_AXIS]
    a_idx = np.arange(label.shape[A_AXIS])[None, :, None]
    anterior = a_idx > (front[:, None, :] + margin)
    for value in vertebra_values:
        whole = label == value
        if not whole.any():
            continue
        body = whole & anterior
        pieces, n = ndimage.label(body)
        if n > 1:
            sizes = ndimage.sum(body, pieces, index=range(1, n + 1))
            body = pieces == (1 + int(np.argmax(sizes)))
        out[whole & ~body] = POSTERIOR_ELEMENTS
    return out


def _caudal_of_discs(split: np.ndarray, disc: np.ndarray) -> np.ndarray:
    """Voxels of the vertebra pieces (values >= 10 in ``split``) whose centre lies caudal of every disc's
    centre: the sacrum (SPIDER labels it as a vertebra; its lowest disc is L5/S1)."""
    out = np.zeros(split.shape, bool)
    discs, n = ndimage.label(disc)
    if not n:
        return out
    lowest_disc = min(c[S_AXIS] for c in ndimage.center_of_mass(disc, discs, range(1, n + 1)))
    for value in np.unique(split[(split >= 10) & (split != POSTERIOR_ELEMENTS)]):
        piece = split == value
        if ndimage.center_of_mass(piece)[S_AXIS] < lowest_disc:
            out |= piece
    return out


def _canonical(path: Path) -> nib.Nifti1Image:
    return nib.as_closest_canonical(nib.load(str(path)))


def _write(dst: Path, image: np.ndarray | None, label: np.ndarray, affine: np.ndarray, meta: dict) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    if image is None:  # the case reader wants an image: a zero volume stands in; training synthesises one
        image = np.zeros(label.shape, np.uint8)
    nib.save(nib.Nifti1Image(image, affine), str(dst / "image.nii.gz"))
    nib.save(nib.Nifti1Image(label.astype(np.uint16), affine), str(dst / "label.nii.gz"))
    (dst / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")


def prepare_spider_masks(src: Path, dst: Path) -> None:
    """One ``spider_masks_sagittal`` case (label map, no image) as a synthesis case with body labels."""
    meta = json.loads((src / "meta.json").read_text())
    lab_img = _canonical(src / "label.nii.gz")
    label = np.asarray(lab_img.dataobj).astype(np.int32)
    names = {int(k): str(v) for k, v in meta["labels"].items()}
    vertebrae = [v for v, n in names.items() if "/" not in n and n[:1] in "TLS" and n[1:].isdigit()]
    spacing = tuple(float(s) for s in np.sqrt((lab_img.affine[:3, :3] ** 2).sum(axis=0)))
    label = vertebral_bodies(label, vertebrae, label == CANAL, spacing)  # type: ignore[arg-type]
    names[POSTERIOR_ELEMENTS] = "posterior elements"
    names[CANAL] = "spinal canal"
    out_meta = {**{k: meta[k] for k in ("dataset", "citation", "modality", "plane", "sequence") if k in meta},
                "source_case": src.name, "synthesise": True, "image": None,
                "labels": {str(k): v for k, v in sorted(names.items())},
                "derived": "vertebral bodies = vertebra anterior of the canal's anterior wall (lumbarqi.segmentation.spider)"}
    _write(dst, None, label, lab_img.affine, out_meta)


def prepare_t2space(src: Path, dst: Path) -> None:
    """One ``vertebrae_discs_t2space`` case (image + vertebra/disc/canal) with vertebral-body labels.

    Bodies keep one label value each (connected components of the body part, numbered
    from 1); levels are not named by the source.
    """
    meta = json.loads((src / "meta.json").read_text())
    img = _canonical(src / "image.nii.gz")
    lab = _canonical(src / "label.nii.gz")
    label = np.asarray(lab.dataobj).astype(np.int32)
    spacing = tuple(float(s) for s in np.sqrt((lab.affine[:3, :3] ** 2).sum(axis=0)))
    vertebra, disc, canal = label == 1, label == 2, label == 3
    pieces, n = ndimage.label(vertebra)
    split = np.where(vertebra, 10 + pieces, 0)
    split = vertebral_bodies(split, [10 + i for i in range(1, n + 1)], canal, spacing)  # type: ignore[arg-type]
    out = np.zeros(label.shape, np.int32)
    out[(split >= 10) & (split != POSTERIOR_ELEMENTS)] = 1
    out[_caudal_of_discs(split, disc)] = SACRUM
    out[split == POSTERIOR_ELEMENTS] = POSTERIOR_ELEMENTS
    out[disc] = 2
    out[canal] = CANAL
    labels = {"1": "vertebral body", "2": "disc", str(CANAL): "spinal canal", str(POSTERIOR_ELEMENTS): "posterior elements"}
    out_meta = {**{k: meta[k] for k in ("dataset", "citation", "modality", "plane", "sequence") if k in meta},
                "source_case": src.name,
                "labels": labels,
                "derived": "vertebral bodies = vertebra anterior of the canal's anterior wall (lumbarqi.segmentation.spider)"}
    image = np.asarray(img.dataobj).astype(np.float32)
    _write(dst, image, out, img.affine, out_meta)


def prepare_cases(data_root: Path, out_root: Path, log=print) -> dict[str, int]:
    """Write ``out_root/spider_synth/<case>`` and ``out_root/spider_t2space/<case>``; returns counts."""
    counts = {}
    for folder, prepare, name in (("spider_masks_sagittal", prepare_spider_masks, "spider_synth"),
                                  ("vertebrae_discs_t2space", prepare_t2space, "spider_t2space")):
        src_root = data_root / folder
        if not src_root.is_dir():
            continue
        cases = [p for p in sorted(src_root.iterdir()) if (p / "label.nii.gz").is_file()]
        for i, case in enumerate(cases, 1):
            prepare(case, out_root / name / case.name)
            log(f"{name}: {i}/{len(cases)} {case.name}")
        counts[name] = len(cases)
    return counts

