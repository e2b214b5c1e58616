"""SEG/SR writer: DICOM SEG per stack, TID 1500 SR, PDF report, results.json/csv, optional send."""
from __future__ import annotations

import time

import pydicom
from holoscan.core import OperatorSpec

from lumbarqi.results import write_results
from operators.base import StageOperator


class OutputWriterOperator(StageOperator):
    """Receives ``labelled``; writes every output into the run's staging folder."""

    stage_name = "write"

    def setup(self, spec: OperatorSpec):
        spec.input("labelled")

    def compute(self, op_input, op_output, context):
        labelled = op_input.receive("labelled")
        opts = self.state.options
        staging = self.state.staging
        results = self.state.results
        if opts.write_dicom and labelled:
            files = self.guarded(lambda: self._dicom(labelled), [], "writing DICOM SEG/SR and the report")
            results["outputs"] += [str(p.relative_to(staging)) for p in files]
            dicom_files = [p for p in files if p.suffix == ".dcm"]
            if opts.send_to and dicom_files:
                self.guarded(lambda: self._send("cstore", dicom_files), None, f"sending to {opts.send_to} (files kept on disk)")
            if opts.stow_to and dicom_files:
                self.guarded(lambda: self._send("stow", dicom_files), None, "STOW-RS upload (files kept on disk)")
        if labelled:
            self.guarded(lambda: self._label_maps(labelled), None, "writing label maps")
        t = time.perf_counter()
        results["timings_s"] = dict(self.state.timings)  # per stage, seconds (extension of the schema)
        write_results(staging, results)
        self.state.stage("results", time.perf_counter() - t, "results.json, results.csv")

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
            self.state.results["outputs"].append(rel)
        self.state.results["label_maps"] = maps

    def _dicom(self, labelled):
        from lumbarqi.reporting.writer import write_outputs

        t = time.perf_counter()
        sources = {lv.volume.key: [pydicom.dcmread(p) for p in lv.volume.source_paths] for lv in labelled}
        files = write_outputs(self.state.staging, self.state.results, labelled, sources, binary=self.state.options.binary_seg,
                              models_dir=self.state.options.models_dir)
        self.state.stage("write", time.perf_counter() - t, f"{len(files)} files (SEG, SR, PDF, overlays)")
        return files

    def _send(self, how: str, files):
        from lumbarqi.reporting import send

        t = time.perf_counter()
        if how == "cstore":
            send.send_cstore(files, self.state.options.send_to)
        else:
            send.send_stow(files, self.state.options.stow_to)
        self.state.stage("send", time.perf_counter() - t, f"{len(files)} objects sent by {'C-STORE' if how == 'cstore' else 'STOW-RS'}")
