"""``train`` and ``evaluate`` subcommands for the ``lumbarqi`` command line.

``add_subcommands(subparsers)`` registers both on the main parser; each sets
``func`` to a handler taking the parsed namespace and returning an exit status.
Bad arguments end in one line on stderr (no traceback). Also runnable alone:
``python -m lumbarqi.segmentation.cli train ...``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lumbarqi.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

TASKS = ("vertebrae", "discs", "muscles")


class UsageError(Exception):
    """A problem with the command's input, reported as one line."""


def _split_names(values: list[str] | None) -> list[str]:
    names: list[str] = []
    for v in values or []:
        names.extend(n.strip() for n in v.split(",") if n.strip())
    return names


def _check_dirs(dirs: list[str]) -> None:
    for d in dirs:
        if not Path(d).is_dir():
            raise UsageError(f"--data folder not found: {d}")


def _class_shares(values: list[str] | None) -> dict[str, float]:
    """``["sacrum=0.4"]`` -> ``{"sacrum": 0.4}``; a malformed value is a usage error."""
    shares: dict[str, float] = {}
    for value in values or []:
        name, _, share = value.partition("=")
        try:
            shares[name.strip()] = float(share)
        except ValueError:
            raise UsageError(f"--class-share wants CLASS=FRACTION, got {value!r}") from None
        if not 0.0 < shares[name.strip()] < 1.0:
            raise UsageError(f"--class-share {value}: the fraction must lie between 0 and 1")
    if sum(shares.values()) >= 1.0:
        raise UsageError("--class-share: the fractions must add up to less than 1")
    return shares


def run_train(args: argparse.Namespace) -> int:
    """Handler of ``train``."""
    from .training import TrainOptions, train

    _check_dirs(args.data)
    if args.epochs is None and args.minutes is None:
        raise UsageError("give --epochs N or --minutes N")
    if args.resume and not (Path(args.out or f"models/{args.task}") / "checkpoint.pt").is_file():
        raise UsageError(f"--resume: no checkpoint.pt in {args.out or f'models/{args.task}'}")
    if args.init and not (Path(args.init) / "config.json").is_file():
        raise UsageError(f"--init folder has no config.json: {args.init}")
    if args.holdout and args.fold is not None:
        raise UsageError("give either --holdout or --fold, not both")
    opts = TrainOptions(
        task=args.task, data=args.data, out=args.out or f"models/{args.task}",
        epochs=args.epochs, minutes=args.minutes, holdout=_split_names(args.holdout),
        fold=args.fold, folds=args.folds, batch_size=args.batch_size, lr=args.lr,
        seed=args.seed, threads=args.threads, init=args.init, resume=args.resume, device=args.device,
        validate_minutes=args.validate_minutes, checkpoint_minutes=args.checkpoint_minutes,
        class_share=_class_shares(args.class_share),
    )
    try:
        train(opts, log=lambda m: print(m, file=sys.stderr, flush=True))
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None
    return EXIT_OK


def find_model_dir(task: str, models: str | None) -> Path:
    """The model folder for ``task`` under ``models`` (default ./models).

    ``models`` may also be the task's folder itself. Discs fall back to the
    vertebrae network, whose classes include ``disc``.
    """
    root = Path(models) if models else Path("models")
    candidates = [root / task, root]
    if task == "discs":
        candidates.append(root / "vertebrae")
    for folder in candidates:
        if (folder / "config.json").is_file():
            cfg = json.loads((folder / "config.json").read_text())
            if cfg.get("task") == task or (task == "discs" and "disc" in cfg.get("classes", [])):
                return folder
    raise UsageError(f"no trained {task} model under {root} (no config.json for it)")


def run_evaluate(args: argparse.Namespace) -> int:
    """Handler of ``evaluate``: prints the evaluation JSON (and writes ``--json``)."""
    from .evaluate import evaluate

    _check_dirs(args.data)
    model_dir = find_model_dir(args.task, args.models)
    try:
        result = evaluate(
            args.task, args.data, model_dir, cases=_split_names(args.cases),
            heldout_only=args.heldout, full_volume=args.full_volume,
        )
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None
    text = json.dumps(result, indent=1)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    print(text)
    return EXIT_OK


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train`` and ``evaluate`` on the main ``lumbarqi`` parser."""
    tr = subparsers.add_parser("train", help="train a segmentation network on case folders")
    tr.add_argument("--task", required=True, choices=TASKS)
    tr.add_argument("--data", required=True, action="append", metavar="DIR",
                    help="folder of case folders (repeatable)")
    tr.add_argument("--out", help="model folder (default models/<task>)")
    tr.add_argument("--epochs", type=int, help="epochs (one epoch ~ every labelled slice once)")
    tr.add_argument("--minutes", type=float, help="wall-clock training budget")
    tr.add_argument("--holdout", action="append", metavar="CASES",
                    help="comma-separated case names kept out of training")
    tr.add_argument("--fold", type=int, help="hold out every --folds-th case of each --data, from the K-th")
    tr.add_argument("--folds", type=int, default=5)
    tr.add_argument("--batch-size", type=int, default=16)
    tr.add_argument("--lr", type=float, default=2e-3)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threads", type=int, default=2)
    tr.add_argument("--init", metavar="MODEL_DIR", help="start from this model folder's weights")
    tr.add_argument("--resume", action="store_true",
                    help="go on from <out>/checkpoint.pt (weights, optimiser, iteration, random state); "
                         "--minutes is then this run's budget")
    tr.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    tr.add_argument("--validate-minutes", type=float, default=10.0,
                    help="score the held-out real cases this often (val_log.csv; 0: only at the end)")
    tr.add_argument("--class-share", action="append", metavar="CLASS=FRACTION",
                    help="draw this fraction of each batch from the cases that label CLASS (repeatable), "
                         "e.g. sacrum=0.4 keeps the only sacrum-labelled source in the mix")
    tr.add_argument("--checkpoint-minutes", type=float, default=5.0, help="write <out>/checkpoint.pt this often")
    tr.set_defaults(func=lambda a: _guard(run_train, a, "train"))

    ev = subparsers.add_parser("evaluate", help="Dice of a trained network on case folders (JSON)")
    ev.add_argument("--task", required=True, choices=TASKS)
    ev.add_argument("--data", required=True, action="append", metavar="DIR")
    ev.add_argument("--json", metavar="FILE", help="also write the JSON here")
    ev.add_argument("-m", "--models", metavar="MODELS", help="models folder (default ./models)")
    ev.add_argument("--cases", action="append", metavar="CASES", help="only these cases (comma-separated)")
    ev.add_argument("--heldout", action="store_true",
                    help="only the cases the model's config.json lists as held out")
    ev.add_argument("--full-volume", action="store_true",
                    help="score predicted instances of structures the case does not label too")
    ev.set_defaults(func=lambda a: _guard(run_evaluate, a, "evaluate"))


def _guard(handler, args: argparse.Namespace, name: str) -> int:
    """Run a handler; input problems become one line on stderr (exit status 2; 1 for
    anything else that went wrong, e.g. an unreadable NIfTI)."""
    try:
        return handler(args)
    except UsageError as exc:
        print(f"lumbarqi {name}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"lumbarqi {name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # unreadable files and the like: still one line
        print(f"lumbarqi {name}: error: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return EXIT_INTERNAL


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (the product uses ``lumbarqi train|evaluate``)."""
    parser = argparse.ArgumentParser(prog="lumbarqi")
    sub = parser.add_subparsers(dest="command", required=True)
    add_subcommands(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
