"""Write SPIDER training cases with vertebral-body labels (see lumbarqi.segmentation.spider).

    python scripts/prepare_spider_cases.py ../shared/data /work/derived

gives /work/derived/spider_synth/<case> (label maps, images synthesised during
training) and /work/derived/spider_t2space/<case> (real 3D T2 images).
Nothing is written into the data folder.
"""
from __future__ import annotations

import sys
from pathlib import Path

from lumbarqi.segmentation.spider import prepare_cases

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(prepare_cases(Path(sys.argv[1]), Path(sys.argv[2])))
