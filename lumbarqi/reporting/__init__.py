"""Standard outputs: DICOM SEG, TID 1500 SR, PDF report (+ Encapsulated PDF), sending to a PACS.

No holoscan import here: operators call :func:`write_outputs`, :func:`send_cstore`
and :func:`send_stow`.
"""
from __future__ import annotations

from lumbarqi.reporting.send import SendError, send_cstore, send_stow
from lumbarqi.reporting.writer import write_outputs

__all__ = ["SendError", "send_cstore", "send_stow", "write_outputs"]
