"""``lumbarqi run`` as a user runs it (CLI in a subprocess), for the end-to-end tests of this folder."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Run:
    """One ``lumbarqi run`` (CLI, subprocess) and what it wrote."""

    returncode: int
    stderr: str
    out: Path
    seconds: float

    @property
    def results(self) -> dict:
        return json.loads((self.out / "results.json").read_text())


def run_pipeline(inp: Path, out: Path) -> Run:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lumbarqi", "run", "-i", str(inp), "-o", str(out)],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ))
    return Run(proc.returncode, proc.stderr, out, time.perf_counter() - t)
