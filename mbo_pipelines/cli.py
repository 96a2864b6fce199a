"""The ``mbo`` command: manage the embedded database, run the demo, start the Dagster UI, and operate the
pipeline without a scheduler (``platforms``, ``extract``, ``refresh``, ``push``, approvals, rollback, the
kill switch and ``quality``), serve the marts' documentation (``docs``), check the configuration (``check``) and
run dbt by hand on MBO's database (``dbt``).

Every command that does work checks the whole configuration first (``config_check``) and, on a problem, prints
one line per problem and exits 1 before it touches anything. Errors a user can fix are one line; ``mbo --verbose``
adds their traceback.
"""

import argparse
import ipaddress
import os
import sys
import traceback
from datetime import date
from pathlib import Path

from mbo_pipelines import settings

#: Commands that do work: each checks the configuration first (``db`` only for ``start`` and ``grant-bi``).
CHECKED_COMMANDS = frozenset({"demo", "dev", "extract", "refresh", "push", "approve", "reject", "rollback",
                              "kill-switch", "changes", "quality", "docs", "report", "dbt", "db", "alerts"})
#: Settings ``mbo kill-switch on`` cannot do without (it must reach the database); any other problem only warns.
DATABASE_VARIABLES = frozenset({"MBO_DATABASE_URL", "MBO_HOME", "MBO_PG_PORT", "DAGSTER_HOME", "MBO_BI_ROLE"})
#: The Dagster UI's address and port unless ``mbo dev --host/--port`` say otherwise (dagster dev's defaults).
DEV_HOST, DEV_PORT = "127.0.0.1", 3000


def _problems_stop(args: argparse.Namespace) -> bool:
    """Check the configuration before ``args.command`` does anything: print one line per problem on stderr; True
    when the command must not run."""
    from mbo_pipelines import config_check

    problems = config_check.check_settings()
    if not any(p.variable == "MBO_DATABASE_URL" for p in problems):
        problems = config_check.ordered(problems + config_check.database_problems())
    command = args.command
    if command == "extract" and (not args.platform or "fx_rates" in args.platform):
        command = config_check.FX_COMMAND
    stop = False
    for problem in (p for p in problems if config_check.stops(p, command)):
        fatal = problem.fatal or (args.command == "db" and args.action == "start")
        if fatal and args.command == "kill-switch" and args.action == "on" and problem.variable not in DATABASE_VARIABLES:
            fatal = False  # stopping every budget write must not wait for an unrelated setting to be mended
        stop = stop or fatal
        print(f"mbo: {'' if fatal else 'warning: '}{problem}", file=sys.stderr)
        if args.verbose and problem.error is not None:
            traceback.print_exception(problem.error)
    return stop


def _check() -> int:
    """``mbo check``: the effective configuration, the database, the platforms; exit 1 with the problems."""
    from mbo_pipelines import config_check
    from mbo_pipelines.embedded_db import EmbeddedDatabaseError
    from mbo_pipelines.operations import platforms_report

    problems = config_check.check_settings()
    print("MBO configuration (the value set, else the default; secrets masked)")
    for line in config_check.configuration_lines():
        print(f"  {line}")
    bad_url = any(p.variable == "MBO_DATABASE_URL" for p in problems)
    external = None if bad_url else settings.external_database_url()
    embedded_blocked = any(p.fatal and p.variable in ("MBO_HOME", "MBO_PG_PORT", "MBO_BI_ROLE") for p in problems)
    if bad_url or (external is None and embedded_blocked):
        print("database: not checked (see the problems below)")
    elif external:
        description, problem = config_check.reach_database(external)
        print(f"database: {settings.redact_url(external)} (MBO_DATABASE_URL): "
              + (f"reachable, {description}" if problem is None else "NOT reachable"))
        problems += [problem] if problem else []
    else:
        try:
            url = settings.database_url()
        except EmbeddedDatabaseError as error:
            problems.append(config_check.Problem("MBO_HOME", f"the embedded PostgreSQL: {_first_line(error)}"))
            print("database: the embedded PostgreSQL did NOT start")
        else:
            description, problem = config_check.reach_database(url, variable=None)
            print(f"database: the embedded PostgreSQL, {settings.redact_url(url)}: "
                  + (f"reachable, {description}" if problem is None else "NOT reachable"))
            problems += [problem] if problem else []
    if not any(p.variable in ("MBO_SOURCE",) and p.fatal for p in problems):
        try:
            report = platforms_report()
        except ValueError:
            report = None  # an id list the problems below name
        if report:
            print("platforms:")
            for line in report.splitlines():
                print(f"  {line}")
    fatal = [p for p in problems if p.fatal]
    for problem in config_check.ordered(problems):
        print(f"mbo: {'' if problem.fatal else 'warning: '}{problem}", file=sys.stderr)
    print(f"{len(fatal)} problem(s): see above (stderr)" if fatal else "all fine")
    return 1 if fatal else 0


def _db(args: argparse.Namespace) -> int:
    action, role = args.action, "bi" if args.bi else "admin" if args.admin else "app"
    external = settings.external_database_url()
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
        if action == "status":
            from mbo_pipelines.config_check import reach_database

            description, problem = reach_database(external)
            if problem is not None:
                print(f"mbo: {problem}", file=sys.stderr)
                return 1
            print(f"reachable: {settings.redact_url(external)} (MBO_DATABASE_URL), {description}; the embedded server "
                  "is not used")
            return 0
        print(f"MBO_DATABASE_URL is set: MBO uses that server ({settings.redact_url(external)}); "
              "the embedded server is not used.", file=sys.stderr)
        return 1
    server = settings.embedded_server()
    if action == "start":
        url = server.start()
        print(f"embedded PostgreSQL running: {settings.redact_url(url)} (data in {server.pgdata}; passwords in "
              f"{server.passwords_path}; `mbo db url` prints the URL with its password)")
    elif action == "stop":
        print("stopped" if server.stop() else "not running")
    elif action == "status":
        if server.is_running():
            running = server.running_port()
            print(f"running on {server.host}:{running} (data in {server.pgdata})")
            if running is not None and running != server.port:
                print(f"mbo: warning: it runs on port {running}, not on port {server.port} (MBO_PG_PORT): run "
                      f"`mbo db stop` and `mbo db start` to move it", file=sys.stderr)
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


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _report(args: argparse.Namespace) -> int:
    from mbo_pipelines.instance import prepare_environment
    from mbo_pipelines.report import NoPlanError, write_report

    try:
        path = write_report(prepare_environment(), args.output, args.plan_id)
    except NoPlanError as err:
        print(f"mbo report: {err}", file=sys.stderr)
        return 1
    print(f"report written to {path} (open {path.as_uri()} in a browser)")
    return 0


def _dev(args: argparse.Namespace, extra: list[str]) -> int:
    from mbo_pipelines.embedded_db import _port_in_use
    from mbo_pipelines.instance import prepare_environment

    host, port = args.host or DEV_HOST, args.port or DEV_PORT
    probe = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if _port_in_use(probe, port):
        print(f"mbo dev: port {port} on {host} is taken by another program: choose another with `mbo dev --port N` "
              f"(`make dev PORT=N`), or stop that program", file=sys.stderr)
        return 1
    if not _is_loopback(host):
        print(f"mbo dev: warning: the Dagster UI has no login; on {host} whoever reaches this machine can run jobs and "
              "push budgets: prefer the compose stack's proxy (README, 'Security')", file=sys.stderr)
    prepare_environment()
    # dagster dev starts dagster-webserver and dagster-daemon by name: find them beside this Python.
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
    argv = [str(Path(bin_dir) / "dagster"), "dev", "-w", str(settings.PROJECT_ROOT / "workspace.yaml"),
            "-h", host, "-p", str(port), *[arg for arg in extra if arg != "--"]]
    os.execv(argv[0], argv)


def _dbt(dbt_args: list[str]) -> int:
    """``mbo dbt ARGS``: dbt on this project with the profile's MBO_DB_* derived from the one database URL MBO uses
    (``MBO_DATABASE_URL``, else the embedded server, started if needed); the password stays out of the shell."""
    from mbo_pipelines.defs.transform.project import DBT_PROJECT_DIR, dbt_executable

    url = settings.database_url()
    env = {**os.environ, **settings.dbt_env(url), "MBO_DATABASE_URL": url,
           "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR), "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR)}
    args = dbt_args[1:] if dbt_args[:1] == ["--"] else dbt_args
    argv = [dbt_executable(), *(args or ["--help"])]
    os.execve(argv[0], argv, env)


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

    if args.command == "extract" and args.platform:
        from mbo_pipelines import platform_setup
        from mbo_pipelines.operations import enabled_sources

        known = [*platform_setup.NATIVE_PLATFORMS, platform_setup.GA4, platform_setup.CSV, platform_setup.FX_RATES]
        enabled = enabled_sources()
        unknown = [p for p in args.platform if p not in known]
        if unknown:
            print(f"mbo extract: unknown platform {', '.join(map(repr, unknown))} for --platform: choose from "
                  f"{', '.join(enabled)} (enabled now; all: {', '.join(known)})", file=sys.stderr)
            return 2
        disabled = [p for p in args.platform if p not in enabled]
        if disabled:
            setups = {**platform_setup.live_setups(), platform_setup.CSV: platform_setup.csv_setup()}
            enable = sorted({setups[p].accounts_variable if p in setups else "MBO_SOURCE" for p in disabled})
            print(f"mbo extract: --platform {', '.join(disabled)}: not enabled; set {' and '.join(enable)} to enable "
                  f"it (enabled now: {', '.join(enabled)}; see `mbo platforms`)", file=sys.stderr)
            return 2
    url = prepare_environment()
    if args.command in ("extract", "refresh"):
        from mbo_pipelines import partition_start

        # Before the definitions are loaded: their daily partitions then reach back to a first load or a backfill.
        partition_start.remember_first_day(args.start)
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


def _port(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number between 1 and 65535, got {raw!r}")
    return int(raw)


def _first_line(error: BaseException) -> str:
    from mbo_pipelines.redaction import redact

    lines = [line for line in str(error).strip().splitlines() if line.strip()] or [type(error).__name__]
    more = "; `mbo --verbose ...` shows more" if len(lines) > 1 else ""
    return redact(lines[0].strip() + more)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mbo`` console script."""
    parser = argparse.ArgumentParser(prog="mbo", description="Marketing Budget Optimizer")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="with an error you can fix (a setting, an unreachable database), show its traceback too")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="print the configuration (secrets masked), reach the database, say what each "
                                 "platform misses; exit 1 with one line per problem")
    db = sub.add_parser("db", help="manage the embedded PostgreSQL; print a role's URL; set up BI access")
    db.add_argument("action", choices=["start", "stop", "status", "url", "grant-bi"],
                    help="status: with MBO_DATABASE_URL, whether that server is reachable; url: the pipeline's role "
                         "(mbo_app) with its password; grant-bi: read-only access to the marts for the BI role "
                         "(MBO_BI_ROLE), on any server")
    who = db.add_mutually_exclusive_group()
    who.add_argument("--bi", action="store_true", help="url: the read-only BI role's URL instead")
    who.add_argument("--admin", action="store_true", help="url: the superuser's URL (only to create roles and "
                                                         "databases)")
    db.add_argument("--print-sql", action="store_true", help="grant-bi: print the SQL instead of running it")
    dbt = sub.add_parser("dbt", help="run dbt by hand on MBO's database: `mbo dbt build --select fct_campaign_daily` "
                                     "(`mbo dbt -- --help` for dbt's help)")
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER, metavar="DBT_ARGS", help="dbt's command and options")
    demo = sub.add_parser("demo", help="run the whole loop on the sandbox and print a report")
    demo.add_argument("--days", type=int, default=None, help="days of history (default MBO_HISTORY_DAYS or 90)")
    dev = sub.add_parser("dev", help="start the Dagster UI (dagster dev) on the MBO database")
    dev.add_argument("-p", "--port", type=_port, default=None, help=f"the UI's port (default {DEV_PORT})")
    dev.add_argument("--host", default=None, help=f"the address the UI listens on (default {DEV_HOST}; the UI has "
                                                  "no login, so keep it on 127.0.0.1)")
    sub.add_parser("prepare", help="parse the dbt project (writes dbt_project/target/manifest.json)")
    sub.add_parser("platforms", help="which platforms are enabled, and what the others miss")
    docs = sub.add_parser("docs", help="generate the dbt documentation of the marts (offline) and serve it on "
                                       "127.0.0.1")
    docs.add_argument("--port", type=int, default=8580, help="port to serve on (default 8580)")
    docs.add_argument("--no-serve", action="store_true", help="only generate $MBO_HOME/dbt-docs/site/index.html")
    report = sub.add_parser("report", help="write the latest plan (or PLAN_ID) as one self-contained HTML page: totals, "
                                           "charts, the changes, the explanation, the ledger")
    report.add_argument("plan_id", nargs="?", default=None)
    report.add_argument("--output", type=Path, default=None, metavar="PATH",
                        help="where to write it (default $MBO_HOME/report.html)")
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
    alerts = sub.add_parser("alerts", help="the open alerts (errors first), each with what was seen and its "
                                           "explanation; --resolved adds the latest resolved ones")
    alerts.add_argument("--resolved", action="store_true", help="also list the latest resolved alerts")
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
    if extra and args.command != "dev":  # dev passes what it does not know on to `dagster dev`
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    import psycopg

    from mbo_pipelines.embedded_db import EmbeddedDatabaseError

    try:
        return _run(args, extra)
    # A bad setting (named by its message), the embedded server, an unreachable database: one line.
    except (EmbeddedDatabaseError, ValueError, psycopg.OperationalError) as err:
        print(f"mbo: {_first_line(err)}", file=sys.stderr)
        if args.verbose:
            traceback.print_exc()
        return 1


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    checked = args.command in CHECKED_COMMANDS and (args.command != "db" or args.action in ("start", "grant-bi"))
    if checked and not (args.command == "db" and args.print_sql) and _problems_stop(args):
        return 1
    if args.command == "check":
        return _check()
    if args.command == "dbt":
        return _dbt(args.dbt_args)
    if args.command == "db":
        return _db(args)
    if args.command == "dev":
        return _dev(args, extra)
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
    if args.command == "alerts":
        from mbo_pipelines import warehouse
        from mbo_pipelines.defs.alerts.listing import alerts_report
        from mbo_pipelines.instance import prepare_environment

        with warehouse.connect(prepare_environment()) as conn:
            print(alerts_report(conn, include_resolved=args.resolved))
        return 0
    if args.command == "docs":
        return _docs(args)
    if args.command == "report":
        return _report(args)
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
