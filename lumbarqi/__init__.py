"""lumbarqi: quantitative lumbar spine MRI (segmentation, morphometry, loads)."""
__version__ = "0.1.0"
