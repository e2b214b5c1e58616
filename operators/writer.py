"""The writers: DICOM SEG per stack and label maps (beside biomech), then TID 1500 SR, PDF report,
results.json/csv and the optional send (after biomech)."""
from __future__ import annotations

import time

import pydicom

from lumbarqi.results import write_results
from operators.base import StageOperator


class SegWriterOperator(StageOperator):
    """Receives ``labelled`` from metrics (no loads needed); writes SEGs and label maps; emits ``segs``.

    ``segs`` is ``(SegInfo list, source datasets by stack, paths written)`` for the report writer.
    """

    stage_name = "seg"
    inputs, outputs = ("labelled",), ("segs",)

    def compute(self, op_input, op_output, context):
        labelled = op_input.receive("labelled")
        segs = ([], {}, [])
        if self.state.options.write_dicom and labelled:
            segs = self.guarded(lambda: self._segs(labelled), segs, "writing DICOM SEG", done=lambda r: f"{len(r[2])} SEG files")
        if labelled:
            self.guarded(lambda: self._label_maps(labelled), None, "writing label maps")
        op_output.emit(segs, "segs")

    def _segs(self, labelled):
        from lumbarqi.reporting.writer import write_segmentations

        read: dict = {}  # a multi-frame source is the file of every slice of its stacks: read once
        sources = {lv.volume.key: [read[p] if p in read else read.setdefault(p, pydicom.dcmread(p)) for p in lv.volume.source_paths]
                   for lv in labelled}
        segs, files = write_segmentations(self.state.staging, labelled, sources, binary=self.state.options.binary_seg,
                                          models_dir=self.state.options.models_dir)
        return segs, sources, files

    def _label_maps(self, labelled) -> None:
        """Every label map as NIfTI (RAS, [col, row, slice]) under labels/, listed in ``label_maps``."""
        import nibabel as nib
        import numpy as np

        folder = self.state.staging / "labels"
        folder.mkdir(exist_ok=True)
        maps: dict[str, list[str]] = {}
        for lv in labelled:
            rel = f"labels/{lv.volume.series_instance_uid}_{lv.volume.stack_index}_label.nii.gz"
            img = nib.Nifti1Image(np.ascontiguousarray(lv.label.transpose(2, 1, 0)), lv.volume.geometry.nifti_affine())
            nib.save(img, self.state.staging / rel)
            maps.setdefault(lv.volume.series_instance_uid, []).append(rel)
        self.state.results["label_maps"] = maps


class OutputWriterOperator(StageOperator):
    """Receives ``labelled`` (from metrics), ``segs`` (SEG writer) and ``loads`` (biomech); writes SR, report and
    results into the staging folder."""

    stage_name = "write"
    inputs = ("labelled", "segs", "loads")

    def compute(self, op_input, op_output, context):
        labelled = op_input.receive("labelled")
        segs, sources, seg_files = op_input.receive("segs")
        loads, load_flags = op_input.receive("loads")
        opts = self.state.options
        staging = self.state.staging
        results = self.state.results
        results["loads"] = loads
        results["flags"] += load_flags
        if opts.write_dicom and labelled:
            files = self.guarded(lambda: self._dicom(labelled, segs, sources), [], "writing DICOM SR and the report",
                                 done=lambda r: f"{len(r)} files (SR, PDF, overlays)")
            files = list(seg_files) + files
            results["outputs"] += [str(p.relative_to(staging)) for p in files]
            dicom_files = [p for p in files if p.suffix == ".dcm"]
            if opts.send_to and dicom_files:
                self.guarded(lambda: self._send("cstore", dicom_files), None, f"sending to {opts.send_to} (files kept on disk)",
                             done=lambda _: f"{len(dicom_files)} objects sent by C-STORE", stage="send")
            if opts.stow_to and dicom_files:
                self.guarded(lambda: self._send("stow", dicom_files), None, "STOW-RS upload (files kept on disk)",
                             done=lambda _: f"{len(dicom_files)} objects sent by STOW-RS", stage="send")
        for paths in (results.get("label_maps") or {}).values():
            results["outputs"] += paths
        t = time.perf_counter()
        results["timings_s"] = dict(self.state.timings)  # per stage, seconds (extension of the schema)
        write_results(staging, results)
        self.state.stage("results", time.perf_counter() - t, "results.json, results.csv")

    def _dicom(self, labelled, segs, sources):
        from lumbarqi.reporting.writer import write_reports

        return write_reports(self.state.staging, self.state.results, labelled, segs, sources, models_dir=self.state.options.models_dir)

    def _send(self, how: str, files):
        from lumbarqi.reporting import send

        if how == "cstore":
            send.send_cstore(files, self.state.options.send_to)
        else:
            send.send_stow(files, self.state.options.stow_to)
