"""Holoscan operators of the lumbarqi application: thin wrappers over ``lumbarqi`` functions."""
from operators.biomech import BiomechOperator
from operators.metrics import MetricsOperator
from operators.segmenters import DiscSegmenterOperator, MuscleSegmenterOperator, VertebraSegmenterOperator
from operators.selector import SeriesSelectorOperator
from operators.study_loader import StudyLoaderOperator
from operators.writer import OutputWriterOperator, SegWriterOperator

__all__ = [
    "BiomechOperator", "DiscSegmenterOperator", "MetricsOperator", "MuscleSegmenterOperator",
    "OutputWriterOperator", "SegWriterOperator", "SeriesSelectorOperator", "StudyLoaderOperator", "VertebraSegmenterOperator",
]
