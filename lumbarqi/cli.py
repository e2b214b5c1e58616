"""The ``lumbarqi`` command line: one sub-command per job, one-line errors."""
from __future__ import annotations

import argparse
import importlib
import sys

from lumbarqi import __version__
from lumbarqi.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, LumbarqiError

#: Modules that each register their sub-commands with ``add_subcommands(subparsers)``.
_COMMAND_MODULES = (
    "lumbarqi.phantom.cli",
    "lumbarqi.run.cli",
    "lumbarqi.dicom.select_cli",
    "lumbarqi.run.bench",
    "lumbarqi.segmentation.cli",
    "lumbarqi.morphometry.cli",
    "lumbarqi.biomech.cli",
    "lumbarqi.xnat.cli",
)


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are a single line naming the problem."""

    def error(self, message: str):  # noqa: D401 - argparse API
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lumbarqi",
        description="Quantitative lumbar spine MRI: series selection, segmentation, disc heights, "
        "muscle areas, spinal loads, DICOM SEG/SR output.",
    )
    parser.add_argument("--version", action="version", version=f"lumbarqi {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in _COMMAND_MODULES:
        importlib.import_module(module).add_subcommands(sub)
    return parser


def exit_now(code: int) -> None:
    """End the process without the interpreter's teardown (about 1 s with torch and holoscan loaded).

    Only for a process whose work is done and written: stdio is flushed, nothing else
    is pending (every output was written via a temporary file and a rename).
    """
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        code = int(args.func(args) or EXIT_OK)
        if argv is None and getattr(args, "exit_now", False):
            exit_now(code)
        return code
    except LumbarqiError as exc:
        sys.stderr.write(f"lumbarqi {args.command}: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("lumbarqi: interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as exc:  # last resort: one line, no traceback, no patient data
        sys.stderr.write(f"lumbarqi {args.command}: internal error: {type(exc).__name__}: {exc} (please report)\n")
        return EXIT_INTERNAL
