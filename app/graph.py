"""The lumbarqi MONAI Deploy application: the data flow of README.md ("The graph") as a holoscan graph."""
from __future__ import annotations

import os

from holoscan.conditions import CountCondition
from holoscan.core import Application  # the class monai.deploy.core re-exports (importing it would import all of MONAI core)
from holoscan.schedulers import EventBasedScheduler

from lumbarqi.run.state import RunState
from operators import (
    BiomechOperator,
    DiscSegmenterOperator,
    MetricsOperator,
    MuscleSegmenterOperator,
    OutputWriterOperator,
    SegWriterOperator,
    SeriesSelectorOperator,
    StudyLoaderOperator,
    VertebraSegmenterOperator,
)


class LumbarQIApp(Application):
    """DICOM study in; SEG, SR, PDF report and results.json out."""

    name = "lumbarqi"
    description = "Quantitative lumbar spine MRI: segmentation, morphometry, OpenSim loads"

    def __init__(self, state: RunState, *args, **kwargs):
        self.state = state
        super().__init__(*args, **kwargs)

    def compose(self):
        s = self.state
        loader = StudyLoaderOperator(self, CountCondition(self, 1), state=s, name="study_loader")
        selector = SeriesSelectorOperator(self, state=s, name="series_selector")
        vertebrae = VertebraSegmenterOperator(self, state=s, name="vertebra_segmenter")
        discs = DiscSegmenterOperator(self, state=s, name="disc_segmenter")
        muscles = MuscleSegmenterOperator(self, state=s, name="muscle_segmenter")
        metrics = MetricsOperator(self, state=s, name="metrics")
        biomech = BiomechOperator(self, state=s, name="biomech")
        seg_writer = SegWriterOperator(self, state=s, name="seg_writer")
        writer = OutputWriterOperator(self, state=s, name="sr_report_writer")

        self.add_flow(loader, selector, {("selection", "selection")})
        self.add_flow(selector, vertebrae, {("sagittal", "sagittal")})
        self.add_flow(selector, discs, {("sagittal", "sagittal")})
        self.add_flow(selector, muscles, {("axial", "axial")})
        self.add_flow(selector, metrics, {("sagittal", "sagittal")})
        self.add_flow(vertebrae, metrics, {("vertebrae", "vertebrae")})
        self.add_flow(discs, metrics, {("discs", "discs")})
        self.add_flow(muscles, metrics, {("muscles", "muscles")})
        self.add_flow(metrics, biomech, {("measurements", "measurements")})
        self.add_flow(metrics, seg_writer, {("labelled", "labelled")})
        self.add_flow(metrics, writer, {("labelled", "labelled")})
        self.add_flow(biomech, writer, {("loads", "loads")})
        self.add_flow(seg_writer, writer, {("segs", "segs")})
        # independent operators run side by side: the segmenters, and the SEG writer beside biomech
        threads = int(os.environ.get("LUMBARQI_GRAPH_THREADS", "2"))
        self.scheduler(EventBasedScheduler(self, worker_thread_number=max(1, threads), stop_on_deadlock=True, name="scheduler"))
