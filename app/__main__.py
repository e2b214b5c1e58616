"""``python app -i DICOM_DIR -o OUT_DIR -m MODELS``: the MONAI Deploy way to run lumbarqi.

Honours HOLOSCAN_INPUT_PATH, HOLOSCAN_OUTPUT_PATH and HOLOSCAN_MODEL_PATH when
the options are not given (as inside a MAP container). ``app`` and ``lumbarqi``
are found as installed packages (``pip install -e .``) or on PYTHONPATH (the container).
"""
import sys

from app.runner import main

raise SystemExit(main(sys.argv[1:]))
