"""The ``mbo`` command: manage the embedded database, run the demo, start the Dagster UI, and operate the
pipeline without a scheduler (``platforms``, ``extract``, ``refresh``, ``push``, approvals, rollback, the
kill switch and ``quality``), and serve the marts' documentation (``docs``)."""

import argparse
import os
import sys
from datetime import date
from pathlib import Path

from mbo_pipelines import settings


def _db(args: argparse.Namespace) -> int:
    action, role = args.action, "bi" if args.bi else "admin" if args.admin else "app"
    external = os.environ.get("MBO_DATABASE_URL", "").strip()
    if action == "grant-bi":
        return _grant_bi(external or settings.database_url(), args.print_sql)
    if external:
        if action == "url" and role == "app":
            print(external)
            return 0
        if action == "url":
            print(f"MBO_DATABASE_URL is set: MBO manages no {role} role on that server; for BI access run "
                  "`mbo db grant-bi` (README, 'Security')", file=sys.stderr)
            return 1
        print(f"MBO_DATABASE_URL is set: MBO uses that server ({settings.redact_url(external)}); "
              "the embedded server is not used.", file=sys.stderr)
        return 0 if action == "status" else 1
    server = settings.embedded_server()
    if action == "start":
        url = server.start()
        print(f"embedded PostgreSQL running: {settings.redact_url(url)} (data in {server.pgdata}; passwords in "
              f"{server.passwords_path}; `mbo db url` prints the URL with its password)")
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
        print(server.url(role))
    return 0


def _grant_bi(url: str, print_sql: bool) -> int:
    from urllib.parse import unquote, urlparse

    from mbo_pipelines import db_roles

    if print_sql:
        parsed = urlparse(url)
        print(db_roles.grant_bi_sql(parsed.path.lstrip("/") or "mbo", unquote(parsed.username or "mbo_app")))
        return 0
    try:
        password = db_roles.grant_bi(url)
    except db_roles.BiRoleMissing as err:
        print(f"mbo: {err}", file=sys.stderr)
        return 1
    bi = db_roles.bi_role()
    print(f"{bi} may read every table in schema {db_roles.BI_SCHEMA} (and tables created there later), nothing else")
    if password is not None:
        print(f"created role {bi}; its password (shown once, stored nowhere): {password}")
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


def _quality(args: argparse.Namespace) -> int:
    import getpass

    from mbo_pipelines.defs.quality.report import accept_check, quality_report
    from mbo_pipelines.instance import prepare_environment

    url = prepare_environment()
    if args.action == "show":
        print(quality_report(url, args.days, args.table))
        return 0
    if len(args.target) != 3 or not args.reason:
        print("mbo quality accept: give TABLE CHECK DAY and --reason, e.g. `mbo quality accept "
              "meta_ads_campaign_daily volume 2026-11-27 --reason \"account paused for the holidays\"`", file=sys.stderr)
        return 2
    table, check, day = args.target
    print(accept_check(url, table, check, day, f"{getpass.getuser()} (mbo quality accept)", args.reason))
    return 0


def _docs(args: argparse.Namespace) -> int:
    from mbo_pipelines import docs_site
    from mbo_pipelines.instance import prepare_environment

    url = prepare_environment()
    print("generating the dbt documentation (dbt docs generate) ...", flush=True)
    try:
        site = docs_site.generate(url)
    except docs_site.DocsError as err:
        print(f"mbo docs: {err}", file=sys.stderr)
        return 1
    if args.no_serve:
        print(f"documentation written to {site / 'index.html'}")
        return 0
    try:
        httpd = docs_site.server(site, args.port)
    except OSError as err:
        print(f"mbo docs: cannot listen on {docs_site.HOST}:{args.port} ({err.strerror}); "
              "choose another port with --port", file=sys.stderr)
        return 1
    print(f"serving the marts' documentation on http://{docs_site.HOST}:{httpd.server_address[1]}/ "
          "(Ctrl-C to stop)", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


def _add_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", type=date.fromisoformat, required=True, help="first day (YYYY-MM-DD)")
    parser.add_argument("--end", type=date.fromisoformat, required=True, help="last day, included (YYYY-MM-DD)")


def _operate(args: argparse.Namespace) -> int:
    """Run ``extract``, ``refresh`` or ``push`` through Dagster; one line on stdout, or the reason on stderr."""
    from mbo_pipelines import operations
    from mbo_pipelines.instance import prepare_environment, run_instance

    url = prepare_environment()
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)  # e.g. backfill_policy: not the operator's concern

    from mbo_pipelines.definitions import build_definitions

    defs, instance = build_definitions(), run_instance()
    if args.command == "extract":
        outcome = operations.extract(defs, instance, args.start, args.end, args.platform)
    elif args.command == "refresh":
        outcome = operations.refresh(defs, instance, args.start, args.end, full=args.full)
    elif args.command == "rollback":
        outcome = operations.rollback(defs, instance, url, args.plan_id)
    elif args.command in ("approve", "reject"):
        outcome = operations.decide(defs, instance, url, args.plan_id, args.command == "approve", args.campaign)
    elif args.resume:
        if args.plan_id:
            print("mbo push: --resume finishes every interrupted plan; give no PLAN_ID with it", file=sys.stderr)
            return 2
        outcome = operations.resume(defs, instance, url)
    else:
        outcome = operations.push(defs, instance, url, args.plan_id)
    run = f" (run {outcome.run_id})" if outcome.run_id else ""
    if not outcome.ok:
        print(f"mbo {args.command}: failed{run}: {outcome.message}", file=sys.stderr)
        return 1
    print(f"{outcome.message}{run}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mbo`` console script."""
    parser = argparse.ArgumentParser(prog="mbo", description="Marketing Budget Optimizer")
    sub = parser.add_subparsers(dest="command", required=True)
    db = sub.add_parser("db", help="manage the embedded PostgreSQL; print a role's URL; set up BI access")
    db.add_argument("action", choices=["start", "stop", "status", "url", "grant-bi"],
                    help="url: the pipeline's role (mbo_app) with its password; grant-bi: read-only access to the "
                         "marts for the BI role (MBO_BI_ROLE), on any server")
    who = db.add_mutually_exclusive_group()
    who.add_argument("--bi", action="store_true", help="url: the read-only BI role's URL instead")
    who.add_argument("--admin", action="store_true", help="url: the superuser's URL (only to create roles and "
                                                         "databases)")
    db.add_argument("--print-sql", action="store_true", help="grant-bi: print the SQL instead of running it")
    demo = sub.add_parser("demo", help="run the whole loop on the sandbox and print a report")
    demo.add_argument("--days", type=int, default=None, help="days of history (default MBO_HISTORY_DAYS or 90)")
    sub.add_parser("dev", help="start the Dagster UI (dagster dev) on the MBO database")
    sub.add_parser("prepare", help="parse the dbt project (writes dbt_project/target/manifest.json)")
    sub.add_parser("platforms", help="which platforms are enabled, and what the others miss")
    docs = sub.add_parser("docs", help="generate the dbt documentation of the marts (offline) and serve it on "
                                       "127.0.0.1")
    docs.add_argument("--port", type=int, default=8580, help="port to serve on (default 8580)")
    docs.add_argument("--no-serve", action="store_true", help="only generate $MBO_HOME/dbt-docs/site/index.html")
    extract = sub.add_parser("extract", help="materialize the extract assets for a date range (first loads, backfills)")
    _add_range(extract)
    extract.add_argument("--platform", action="append", default=None, metavar="P",
                         help="only this platform (repeatable): google_ads, meta_ads, tiktok_ads, ga4, csv, fx_rates")
    refresh = sub.add_parser("refresh", help="the whole daily refresh over a range: extract, marts, a plan")
    _add_range(refresh)
    refresh.add_argument("--full", action="store_true",
                         help="rebuild every mart from all history (dbt --full-refresh), not only the range and its "
                              "lookback days: after a backfill with `mbo extract` or a change of a mart's columns")
    push = sub.add_parser("push", help="launch the push job for the latest plan, or the given one")
    push.add_argument("plan_id", nargs="?", default=None)
    changes = sub.add_parser("changes", help="a plan's budget changes (the latest plan's by default), waiting ones first")
    changes.add_argument("plan_id", nargs="?", default=None)
    for verb, what in (("approve", "approve (and push)"), ("reject", "reject")):
        decision = sub.add_parser(verb, help=f"{what} a plan's changes waiting for approval")
        decision.add_argument("plan_id")
        decision.add_argument("--campaign", action="append", default=None, metavar="ID",
                              help="only this campaign (repeatable); default: every waiting change of the plan")
    rollback = sub.add_parser("rollback", help="restore the budgets in force before a plan, as a new plan pushed "
                                               "through the same guardrails, approvals and ledger")
    rollback.add_argument("plan_id")
    quality = sub.add_parser("quality", help="the latest data-quality check results per table and partition, "
                                             "failing ones first; `accept` lets plans use a day a check failed on")
    quality.add_argument("action", nargs="?", choices=["show", "accept"], default="show")
    quality.add_argument("target", nargs="*", metavar="TABLE CHECK DAY",
                         help="for accept: the raw table, the check (valid_table or volume) and the day "
                              "(YYYY-MM-DD, or 'snapshot' for a campaigns table)")
    quality.add_argument("--days", type=int, default=7, help="passing results of the last N days too (default 7)")
    quality.add_argument("--table", default=None, help="only this raw table")
    quality.add_argument("--reason", default=None, help="for accept: why the data is right (stored with it)")
    switch = sub.add_parser("kill-switch", help="stop every budget write now (on), allow them again (off), or show it")
    switch.add_argument("action", choices=["on", "off", "status"], nargs="?", default="status")
    switch.add_argument("--reason", default=None, help="why (stored with the switch and shown by every push it stops)")
    push.add_argument("--resume", action="store_true",
                      help="finish every plan an interrupted push left with pending changes (reading the platform first)")
    args, extra = parser.parse_known_args(argv)
    from mbo_pipelines.embedded_db import EmbeddedDatabaseError

    try:
        return _run(args, extra)
    except (EmbeddedDatabaseError, ValueError) as err:  # ValueError: a bad setting, named by its message
        print(f"mbo: {err}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    if args.command == "db":
        return _db(args)
    if args.command == "dev":
        return _dev(extra)
    if args.command == "prepare":
        return _prepare()
    if args.command == "platforms":
        from mbo_pipelines.operations import platforms_report

        print(platforms_report())
        return 0
    if args.command == "changes":
        from mbo_pipelines import operations
        from mbo_pipelines.instance import prepare_environment

        print(operations.changes_report(prepare_environment(), args.plan_id))
        return 0
    if args.command == "quality":
        return _quality(args)
    if args.command == "docs":
        return _docs(args)
    if args.command == "kill-switch":
        from mbo_pipelines import operations
        from mbo_pipelines.instance import prepare_environment

        print(operations.kill_switch(prepare_environment(), args.action, args.reason))
        return 0
    if args.command in ("extract", "refresh", "push", "approve", "reject", "rollback"):
        return _operate(args)
    if args.command == "demo":
        from mbo_pipelines.demo import run_demo

        return run_demo(days=args.days or settings.history_days())
    return 2


if __name__ == "__main__":
    sys.exit(main())
