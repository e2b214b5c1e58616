"""The ``lumbarqi`` command line: one sub-command per job, one-line errors."""
from __future__ import annotations

import argparse
import sys

from lumbarqi import __version__
from lumbarqi.errors import EXIT_INTERNAL, EXIT_USAGE, LumbarqiError


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
    from lumbarqi.phantom import cli as phantom_cli

    phantom_cli.add_parser(sub)
    try:
        from lumbarqi.segmentation import cli as segmentation_cli
    except ImportError:
        segmentation_cli = None
    if segmentation_cli is not None and hasattr(segmentation_cli, "add_subcommands"):
        segmentation_cli.add_subcommands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except LumbarqiError as exc:
        sys.stderr.write(f"lumbarqi {args.command}: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("lumbarqi: interrupted\n")
        return 130
    except Exception as exc:  # last resort: one line, no traceback, no patient data
        sys.stderr.write(f"lumbarqi {args.command}: internal error: {type(exc).__name__}: {exc} (please report)\n")
        return EXIT_INTERNAL
