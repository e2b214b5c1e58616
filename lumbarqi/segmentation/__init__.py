"""Segmentation of vertebral bodies, discs (sagittal) and paraspinal muscles (axial)."""
