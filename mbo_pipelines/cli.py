"""The ``mbo`` command: manage the embedded database, run the demo, start the Dagster UI."""

import argparse
import os
import sys
from pathlib import Path

from mbo_pipelines import settings


def _db(action: str) -> int:
    if os.environ.get("MBO_DATABASE_URL", "").strip():
        if action == "url":
            print(os.environ["MBO_DATABASE_URL"].strip())
            return 0
        print(f"MBO_DATABASE_URL is set: MBO uses that server ({settings.redact_url(os.environ['MBO_DATABASE_URL'])}); "
              "the embedded server is not used.", file=sys.stderr)
        return 0 if action == "status" else 1
    server = settings.embedded_server()
    if action == "start":
        server.start()
        print(f"embedded PostgreSQL running: {server.url()} (data in {server.pgdata})")
    elif action == "stop":
        print("stopped" if server.stop() else "not running")
    elif action == "status":
        if server.is_running():
            print(f"running on {server.host}:{server.running_port()} (data in {server.pgdata})")
        else:
            print(f"not running (data in {server.pgdata}{'' if server.is_initialized() else ', not created yet'})")
            return 3
    elif action == "url":
        if not server.is_running():
            print("the embedded PostgreSQL is not running: start it with `mbo db start`", file=sys.stderr)
            return 1
        print(server.url())
    return 0


def _dev(extra: list[str]) -> int:
    from mbo_pipelines.instance import prepare_environment

    prepare_environment()
    # dagster dev starts dagster-webserver and dagster-daemon by name: find them beside this Python.
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
    args = [str(Path(bin_dir) / "dagster"), "dev", "-w", str(settings.PROJECT_ROOT / "workspace.yaml"), *extra]
    os.execv(args[0], args)


def _prepare() -> int:
    from mbo_pipelines.defs.transform.project import dbt_project, ensure_manifest

    if dbt_project.manifest_path.exists():
        dbt_project.manifest_path.unlink()
    print(f"dbt manifest: {ensure_manifest()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mbo`` console script."""
    parser = argparse.ArgumentParser(prog="mbo", description="Marketing Budget Optimizer")
    sub = parser.add_subparsers(dest="command", required=True)
    db = sub.add_parser("db", help="manage the embedded PostgreSQL")
    db.add_argument("action", choices=["start", "stop", "status", "url"])
    demo = sub.add_parser("demo", help="run the whole loop on the sandbox and print a report")
    demo.add_argument("--days", type=int, default=None, help="days of history (default MBO_HISTORY_DAYS or 90)")
    sub.add_parser("dev", help="start the Dagster UI (dagster dev) on the MBO database")
    sub.add_parser("prepare", help="parse the dbt project (writes dbt_project/target/manifest.json)")
    args, extra = parser.parse_known_args(argv)
    from mbo_pipelines.embedded_db import EmbeddedDatabaseError

    try:
        return _run(args, extra)
    except EmbeddedDatabaseError as err:
        print(f"mbo: {err}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    if args.command == "db":
        return _db(args.action)
    if args.command == "dev":
        return _dev(extra)
    if args.command == "prepare":
        return _prepare()
    if args.command == "demo":
        from mbo_pipelines.demo import run_demo

        return run_demo(days=args.days or settings.history_days())
    return 2


if __name__ == "__main__":
    sys.exit(main())
