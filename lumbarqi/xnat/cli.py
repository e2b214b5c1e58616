"""``lumbarqi xnat``: put the lumbarqi container on an XNAT server and run it there.

    lumbarqi xnat register  [--command FILE] [--image NAME:TAG]
    lumbarqi xnat enable    --project P [--no-site]
    lumbarqi xnat subscribe --project P            (launch on every session archived in P)
    lumbarqi xnat launch    --project P (--session ID ... | --all) [--skip-done] [--personalisation ...]

Server from ``--host`` or XNAT_HOST; user and password from XNAT_USER/XNAT_PASS or
~/.netrc (``--netrc FILE``). Credentials are never printed.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from lumbarqi.errors import EXIT_OK, LumbarqiError
from lumbarqi.results import PERSONALISATIONS

RESULT_RESOURCE = "LUMBARQI"


def add_subcommands(subparsers) -> None:
    p = subparsers.add_parser("xnat", help="register, enable, subscribe and launch lumbarqi on an XNAT server",
                              description="XNAT container-service integration (credentials: XNAT_HOST/XNAT_USER/XNAT_PASS or ~/.netrc).")
    sub = p.add_subparsers(dest="xnat_command", metavar="ACTION", parser_class=type(p))

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--host", default=None, help="XNAT URL (default $XNAT_HOST)")
        q.add_argument("--netrc", default=None, metavar="FILE", help="netrc file to read credentials from (default ~/.netrc)")
        q.add_argument("--command", dest="command_file", type=Path, default=None, metavar="FILE", help="command JSON (default xnat/command.json)")
        q.add_argument("--image", default=None, metavar="NAME:TAG", help="image the command runs (default: the command's)")

    q = sub.add_parser("register", help="POST the lumbarqi command to /xapi/commands (once; later calls report the existing id)")
    common(q)
    q.set_defaults(func=_register)

    q = sub.add_parser("enable", help="enable the command's wrapper for the site and a project")
    common(q)
    q.add_argument("--project", default=None, help="project ID to enable it for")
    q.add_argument("--no-site", action="store_true", help="do not (re-)enable it site-wide (needs admin)")
    q.add_argument("--wrapper", default=None, help="wrapper name (default: the command's first)")
    q.set_defaults(func=_enable)

    q = sub.add_parser("subscribe", help="Event Service subscription: launch lumbarqi when a session of the project is archived")
    common(q)
    q.add_argument("--project", required=True, help="project ID")
    q.add_argument("--name", default=None, help="subscription name (default 'lumbarqi on session archive (PROJECT)')")
    q.add_argument("--act-as-event-user", action="store_true", help="run as the user who archived the session (default: the subscription owner)")
    q.add_argument("--wrapper", default=None, help="wrapper name (default: the command's first)")
    q.set_defaults(func=_subscribe)

    q = sub.add_parser("launch", help="launch lumbarqi on sessions of a project (one, several, or all: a retrospective cohort)")
    common(q)
    q.add_argument("--project", required=True, help="project ID")
    who = q.add_mutually_exclusive_group(required=True)
    who.add_argument("--session", action="append", default=None, metavar="ID", help="session (experiment) ID; repeat for several")
    who.add_argument("--all", action="store_true", help="every MR session of the project")
    q.add_argument("--skip-done", action="store_true", help=f"skip sessions that already have a {RESULT_RESOURCE} resource (resume a cohort)")
    q.add_argument("--batch", type=int, default=50, help="sessions per bulk-launch request (default 50)")
    q.add_argument("--personalisation", choices=PERSONALISATIONS, default=None, help="command input personalisation")
    q.add_argument("--selection-rules", default=None, metavar="PATH", help="command input selection-rules (a path inside the container)")
    q.add_argument("--dry-run", action="store_true", help="list what would be launched, launch nothing")
    q.add_argument("--wrapper", default=None, help="wrapper name (default: the command's first)")
    q.set_defaults(func=_launch)

    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _service(args):
    from lumbarqi.xnat.api import ContainerService, connect, credentials

    creds = credentials(args.host, args.netrc)
    return ContainerService(connect(creds)), creds.server


def _close(service) -> None:
    try:
        service.session.disconnect()
    except Exception:  # noqa: BLE001 - closing a session must never hide the real result
        pass


def _register(args) -> int:
    from lumbarqi.xnat.api import load_command

    command = load_command(args.command_file, args.image)
    service, server = _service(args)
    try:
        reg = service.register(command)
    finally:
        _close(service)
    state = "registered" if reg.created else "already registered"
    wrappers = ", ".join(f"{name} (wrapper id {wid})" for name, wid in reg.wrappers.items()) or "no wrappers"
    print(f"command {command['name']} {state} on {server} as id {reg.command_id} for image {command['image']}: {wrappers}")
    return EXIT_OK


def _enable(args) -> int:
    from lumbarqi.xnat.api import load_command

    if args.no_site and not args.project:
        raise LumbarqiError("nothing to enable: give --project, or drop --no-site")
    command = load_command(args.command_file, args.image)
    service, server = _service(args)
    try:
        command_id, wrapper, _ = service.resolve(command, args.wrapper)
        done = service.enable(command_id, wrapper, project=args.project, site=not args.no_site)
    finally:
        _close(service)
    print(f"wrapper {wrapper} of command {command_id} enabled on {server} for: {', '.join(done)}")
    return EXIT_OK


def _subscribe(args) -> int:
    from lumbarqi.xnat.api import load_command

    command = load_command(args.command_file, args.image)
    service, server = _service(args)
    try:
        _, wrapper, wrapper_id = service.resolve(command, args.wrapper)
        sub_id, created = service.subscribe(wrapper_id, args.project, args.name, args.act_as_event_user)
    finally:
        _close(service)
    state = "created" if created else "already exists"
    print(f"subscription {sub_id if sub_id is not None else '?'} {state} on {server}: {wrapper} runs when a session of {args.project} is archived")
    return EXIT_OK


def _launch(args) -> int:
    from lumbarqi.xnat.api import load_command

    if args.batch < 1:
        raise LumbarqiError("--batch must be at least 1")
    command = load_command(args.command_file, args.image)
    params = {}
    if args.personalisation:
        params["personalisation"] = args.personalisation
    if args.selection_rules:
        params["selection-rules"] = args.selection_rules
    service, server = _service(args)
    try:
        _, wrapper, wrapper_id = service.resolve(command, args.wrapper)
        if args.all:
            ids = [row["ID"] for row in service.sessions(args.project)]
        else:
            ids = list(dict.fromkeys(args.session))
        skipped = [sid for sid in ids if args.skip_done and service.has_resource(sid, RESULT_RESOURCE)]
        todo = [sid for sid in ids if sid not in skipped]
        reports = []
        if not args.dry_run:
            for start in range(0, len(todo), args.batch):
                reports.append(service.launch(args.project, wrapper_id, todo[start:start + args.batch], params))
    finally:
        _close(service)
    verb = "would launch" if args.dry_run else "launched"
    print(f"{verb} {wrapper} on {len(todo)} session(s) of {args.project} on {server}"
          f"{f'; skipped {len(skipped)} with a {RESULT_RESOURCE} resource' if skipped else ''}")
    if args.dry_run:
        for sid in todo:
            print(f"  {sid}")
    failures = _failures(reports)
    if failures:
        print(json.dumps(failures, indent=1))
        raise LumbarqiError(f"{len(failures)} launch(es) were refused by the server (listed above)", 3)
    return EXIT_OK


def _failures(reports: list[dict]) -> list:
    """Failed entries of launch/bulk-launch reports (container service LaunchReport shapes)."""
    failed = []
    for report in reports:
        if not isinstance(report, dict):
            continue
        if report.get("status") == "failure":
            failed.append(report)
        failed += list(report.get("failures") or [])
    return failed
