"""``lumbarqi run`` and ``python app``: run the application graph on a DICOM folder."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from lumbarqi.errors import EXIT_NO_INPUT, EXIT_OK, LumbarqiError
from lumbarqi.results import PERSONALISATIONS

DEFAULT_MODELS = Path(__file__).resolve().parents[2] / "models"


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--input", type=Path, default=None, help="folder tree holding the study's DICOM files (default $HOLOSCAN_INPUT_PATH)")
    p.add_argument("-o", "--output", type=Path, default=None, help="output folder (default $HOLOSCAN_OUTPUT_PATH)")
    p.add_argument("-m", "--models", type=Path, default=None, help=f"models folder (default $HOLOSCAN_MODEL_PATH or {DEFAULT_MODELS})")
    p.add_argument("--selection-rules", type=Path, default=None, help="site series-selection rules (JSON, see lumbarqi/dicom/selection_rules.json)")
    p.add_argument("--study", default=None, metavar="UID", help="process this StudyInstanceUID when the input holds several")
    p.add_argument("--labelmap-seg", action="store_true", help="write LABELMAP segmentations (default BINARY: every reader and validator accepts it)")
    p.add_argument("--personalisation", choices=PERSONALISATIONS, default="muscle", help="how far the OpenSim model is personalised (default muscle)")
    p.add_argument("--pull-from", default=None, metavar="URL", help="retrieve the study (--study UID) from this DICOMweb server instead of -i")
    p.add_argument("--send-to", default=None, metavar="AE@HOST:PORT", help="send the DICOM outputs to a PACS by C-STORE")
    p.add_argument("--stow-to", default=None, metavar="URL", help="send the DICOM outputs to a DICOMweb STOW-RS endpoint")
    p.add_argument("--no-dicom", action="store_true", help="write results.json/csv only (no SEG, SR or report)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _add_cohort_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cohort", action="store_true", help="the input is a folder of studies: run each into OUTPUT/<study>, "
                   "resume where an earlier run stopped, write OUTPUT/cohort.csv and cohort.json")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="with --cohort: studies run in parallel (default 1), "
                   "each in a warm worker process that keeps the models loaded")
    p.add_argument("--study-timeout", type=float, default=None, metavar="S", help="with --cohort: stop a study after S seconds "
                   "(its worker is replaced; the study is reported failed; default no limit)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="with --cohort: run the studies on this Dask distributed "
                   "scheduler (e.g. tcp://host:8786; see deploy/distributed.md) instead of local worker processes")


def add_subcommands(subparsers) -> None:
    p = subparsers.add_parser("run", help="run the whole pipeline on a DICOM study",
                              description="Select series, segment, measure, compute loads and write SEG/SR/PDF/results.json.")
    _add_run_arguments(p)
    _add_cohort_arguments(p)
    p.set_defaults(func=run, exit_now=True)  # the command line's process ends as soon as the run is written
    q = subparsers.add_parser("cohort-qc", help="(re)write OUT/index.html, the QC page of a cohort output folder",
                              description="Build the cohort QC page from OUT/cohort.json and every OUT/<study>/results.json.")
    q.add_argument("output", type=Path, help="output folder of `lumbarqi run --cohort`")
    q.set_defaults(func=cohort_qc)


def cohort_qc(args: argparse.Namespace) -> int:
    """``lumbarqi cohort-qc OUT``: the QC page again, e.g. after studies were added or rerun."""
    import time

    from lumbarqi.reporting.cohort_qc import write_qc_page

    if not args.output.is_dir():
        raise LumbarqiError(f"{args.output} is not a folder; nothing written", EXIT_NO_INPUT)
    t0 = time.perf_counter()
    path = write_qc_page(args.output)
    print(f"cohort-qc: {path} ({time.perf_counter() - t0:.1f} s)")
    return EXIT_OK


def pull_study(url: str, study_uid: str) -> Path:
    """Retrieve a study by DICOMweb (WADO-RS) into a new temporary folder; returns the folder."""
    import tempfile

    from dicomweb_client.api import DICOMwebClient

    folder = Path(tempfile.mkdtemp(prefix="lumbarqi-pull-"))
    try:
        datasets = DICOMwebClient(url=url).retrieve_study(study_uid)
    except Exception as exc:  # network, HTTP or DICOMweb errors: one line, no credentials
        raise LumbarqiError(f"could not retrieve study {study_uid} from the DICOMweb server: {type(exc).__name__}", EXIT_NO_INPUT) from None
    if not datasets:
        raise LumbarqiError(f"the DICOMweb server has no study {study_uid}; nothing written", EXIT_NO_INPUT)
    for i, ds in enumerate(datasets):
        ds.save_as(folder / f"{i:05d}.dcm", enforce_file_format=True)
    return folder


def _paths(args: argparse.Namespace, allow_pull: bool) -> tuple[Path, Path]:
    """Input and output folders from the options, the HOLOSCAN_* variables, or a DICOMweb pull."""
    env = os.environ
    inp = args.input or (Path(env["HOLOSCAN_INPUT_PATH"]) if env.get("HOLOSCAN_INPUT_PATH") else None)
    out = args.output or (Path(env["HOLOSCAN_OUTPUT_PATH"]) if env.get("HOLOSCAN_OUTPUT_PATH") else None)
    if allow_pull and getattr(args, "pull_from", None):
        if not args.study:
            raise LumbarqiError("--pull-from needs --study UID (the study to retrieve)")
        if out is None:
            raise LumbarqiError("give -o OUTPUT")
        inp = pull_study(args.pull_from, args.study)
    if inp is None or out is None:
        raise LumbarqiError("give -i INPUT and -o OUTPUT (or set HOLOSCAN_INPUT_PATH and HOLOSCAN_OUTPUT_PATH)")
    return inp, out


def _options(args: argparse.Namespace):
    from lumbarqi.run.state import RunOptions

    env = os.environ
    models = args.models or (Path(env["HOLOSCAN_MODEL_PATH"]) if env.get("HOLOSCAN_MODEL_PATH") else DEFAULT_MODELS)
    inp, out = _paths(args, allow_pull=True)
    if not inp.is_dir():
        raise LumbarqiError(f"input folder {inp} does not exist or is not a folder; nothing written", EXIT_NO_INPUT)
    inp_r, out_r = inp.resolve(), out.resolve()
    if out_r == inp_r or inp_r in out_r.parents:
        raise LumbarqiError(f"output folder {out} is inside the input folder; lumbarqi never writes into its input")
    return RunOptions(input_dir=inp, output_dir=out, models_dir=models, selection_rules=args.selection_rules, study_uid=args.study,
                      binary_seg=not args.labelmap_seg, personalisation=args.personalisation, send_to=args.send_to,
                      stow_to=args.stow_to, write_dicom=not args.no_dicom)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "cohort", False):
        return _run_cohort(args)
    if getattr(args, "scheduler", None):
        raise LumbarqiError("--scheduler runs a cohort on Dask; use it with --cohort")
    from lumbarqi.run.launch import graph_runner

    runner = graph_runner()
    options = _options(args)
    try:
        return runner.run_app(options, verbose=args.verbose)
    finally:
        if getattr(args, "pull_from", None):  # the retrieved copy is ours: remove it
            import shutil

            shutil.rmtree(options.input_dir, ignore_errors=True)


def _run_cohort(args: argparse.Namespace) -> int:
    """``--cohort``: every study under the input folder, ``--workers`` at a time (lumbarqi.run.cohort)."""
    from lumbarqi.run.cohort import CohortOptions, run_cohort

    if getattr(args, "pull_from", None):
        raise LumbarqiError("--pull-from retrieves one study; it cannot be combined with --cohort")
    inp, out = _paths(args, allow_pull=False)
    if args.study:
        raise LumbarqiError("--study picks one study; it cannot be combined with --cohort")
    options = CohortOptions(models=args.models, selection_rules=args.selection_rules, personalisation=args.personalisation,
                            labelmap_seg=args.labelmap_seg, no_dicom=args.no_dicom, send_to=args.send_to, stow_to=args.stow_to,
                            timeout_s=args.study_timeout, extra_args=["-v"] if args.verbose else [])
    return run_cohort(inp, out, args.workers, options, scheduler=getattr(args, "scheduler", None))


def main_app(argv: list[str]) -> int:
    """Entry point of ``python app`` with the same options and one-line errors."""
    from lumbarqi.cli import _Parser

    parser = _Parser(prog="python app", description="lumbarqi MONAI Deploy application")
    _add_run_arguments(parser)
    args = parser.parse_args(argv)
    try:
        code = run(args)
    except LumbarqiError as exc:
        import sys

        sys.stderr.write(f"python app: error: {exc}\n")
        return exc.exit_code
    from lumbarqi.cli import exit_now

    exit_now(code)  # the application's process: skip the interpreter's teardown (about 1 s)
    return code
