"""``python app -i DICOM_DIR -o OUT_DIR -m MODELS``: the MONAI Deploy way to run lumbarqi.

Honours HOLOSCAN_INPUT_PATH, HOLOSCAN_OUTPUT_PATH and HOLOSCAN_MODEL_PATH when
the options are not given (as inside a MAP container).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lumbarqi.run_cli import main_app  # noqa: E402

raise SystemExit(main_app(sys.argv[1:]))
