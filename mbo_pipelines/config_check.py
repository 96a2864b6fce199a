"""Check MBO's configuration before any work starts: ``mbo check``, and the first step of every ``mbo`` command
that does work.

Each setting is read by the very function the pipeline reads it with (``settings``, ``platform_setup``, the
activation modes and accounts file, the push, the retries, the quality rules, the sandbox resource), so the
check and the run cannot disagree about what is valid. A problem is one line: the variable, what is wrong with
its value, and the fix. The check reads the environment and the files it names; it writes nothing.

``check_settings()`` needs no database; ``database_problems()`` connects to ``MBO_DATABASE_URL`` once, with a
timeout of ``settings.CONNECT_TIMEOUT_SECONDS`` and no retries.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from mbo_pipelines import platform_setup, settings
from mbo_pipelines.redaction import MASK, SECRET_VARIABLES, redact


@dataclass(frozen=True)
class Problem:
    """A setting MBO cannot work with: the variable, what is wrong (a sentence naming it), and the fix.

    ``fatal`` False: worth saying, but MBO can go on (e.g. the embedded server runs on another port than asked).
    """

    variable: str
    message: str
    fix: str = ""
    fatal: bool = True
    #: The commands it stops (``mbo check`` reports it too); empty: every command. Others do not need the setting.
    only_for: tuple[str, ...] = ()
    #: What the reader raised, for ``mbo --verbose``'s traceback.
    error: BaseException | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.message}: {self.fix}" if self.fix else self.message


# --- what MBO reads, for `mbo check` -----------------------------------------------------------------------

#: Every variable MBO reads, with what applies when it is unset, grouped as the README's table is.
VARIABLES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("database", (
        ("MBO_DATABASE_URL", "unset: the embedded PostgreSQL"),
        ("MBO_HOME", ".mbo/ in the checkout"),
        ("MBO_PG_PORT", "54329"),
        ("MBO_BI_ROLE", "mbo_bi"),
        ("DAGSTER_HOME", "$MBO_HOME/dagster"),
    )),
    ("warehouse", (
        ("MBO_REPORTING_CURRENCY", "USD"),
        ("MBO_FX_RATES_CSV", "unset: the sandbox's rates"),
        ("MBO_FX_MAX_FILL_DAYS", "7"),
        ("MBO_META_CONVERSION_ACTION", "omni_purchase"),
        ("MBO_START_DATE", "unset: the first day loaded, else MBO_HISTORY_DAYS before today"),
        ("MBO_LOOKBACK_DAYS", "7"),
        ("MBO_VOLUME_MIN_RATIO", "0.5"),
        ("MBO_VOLUME_MAX_RATIO", "3.0"),
        ("MBO_VOLUME_WEEKS", "4"),
        ("MBO_MARTS_MAX_AGE_HOURS", "30"),
    )),
    ("plans", (
        ("MBO_CONVERSION_SOURCE", "platform"),
        ("MBO_HISTORY_DAYS", "90"),
        ("MBO_MAX_BUDGET_CHANGE", "0.3"),
        ("MBO_TARGET_MARGINAL_ROAS", "1.0"),
        ("MBO_PLAN_MAX_AGE_HOURS", "36"),
        ("ANTHROPIC_API_KEY", "unset: a deterministic explanation"),
        ("ANTHROPIC_BASE_URL", "Anthropic's API"),
        ("MBO_CLAUDE_MODEL", "claude-sonnet-4-6"),
        ("MBO_REPORT_MAX_CAMPAIGNS", "2000"),
    )),
    ("alerts", (
        ("MBO_ALERT_WEBHOOK_URL", "unset: no notifications"),
        ("MBO_ALERT_ACTION", "hold"),
        ("MBO_ALERT_Z", "5"),
        ("MBO_ALERT_RATIO", "2.5"),
        ("MBO_ALERT_MIN_SPEND", "20"),
        ("MBO_ALERT_MIN_CLICKS", "30"),
        ("MBO_ALERT_OVERSPEND_RATIO", "2"),
        ("MBO_ALERT_PACING_RATIO", "1.2"),
        ("MBO_ALERT_RESTATEMENT_RATIO", "0.2"),
        ("MBO_ALERT_WEEKS", "8"),
        ("MBO_ALERT_SCAN_DAYS", "7"),
        ("MBO_ALERT_P_VALUE", "0.0001"),
        ("MBO_ALERT_TRACKING_FACTOR", "4"),
    )),
    ("pushes", (
        ("MBO_ACTIVATION", "unset: auto on the sandbox, dry_run on live platforms"),
        ("MBO_ALLOW_LIVE_BUDGET_CHANGES", "unset: live platforms are dry-run"),
        ("MBO_KILL_SWITCH", "unset: off"),
        ("MBO_APPROVAL_ABOVE_CHANGE", "unset: no threshold"),
        ("MBO_APPROVAL_ABOVE_AMOUNT", "unset: no threshold"),
        ("MBO_ACCOUNTS_FILE", "mbo_accounts.toml in the checkout, if present"),
        ("MBO_MIN_DAILY_BUDGET", "unset: no minimum"),
        ("MBO_MAX_DAILY_BUDGET", "unset: no maximum"),
        ("MBO_ACCOUNT_DAILY_CAP", "unset: no cap"),
        ("MBO_COOLDOWN_HOURS", "0"),
        ("MBO_PUSH_BATCH_SIZE", "200"),
        ("MBO_RESUME_AFTER_MINUTES", "15"),
    )),
    ("sources", (
        ("MBO_SOURCE", "sandbox"),
        ("MBO_IMPORT_DIR", "unset: no CSV imports"),
        ("MBO_GOOGLE_ADS_CUSTOMER_IDS", "unset"),
        ("GOOGLE_ADS_DEVELOPER_TOKEN", "unset"),
        ("GOOGLE_ADS_CLIENT_ID", "unset"),
        ("GOOGLE_ADS_CLIENT_SECRET", "unset"),
        ("GOOGLE_ADS_REFRESH_TOKEN", "unset"),
        ("GOOGLE_ADS_LOGIN_CUSTOMER_ID", "unset"),
        ("GOOGLE_ADS_JSON_KEY_FILE_PATH", "unset"),
        ("MBO_GOOGLE_ADS_ENDPOINT", "googleads.googleapis.com:443"),
        ("MBO_META_AD_ACCOUNT_IDS", "unset"),
        ("META_ACCESS_TOKEN", "unset"),
        ("META_APP_SECRET", "unset"),
        ("MBO_META_GRAPH_URL", "https://graph.facebook.com"),
        ("MBO_TIKTOK_ADVERTISER_IDS", "unset"),
        ("TIKTOK_ACCESS_TOKEN", "unset"),
        ("MBO_TIKTOK_API_URL", "https://business-api.tiktok.com/open_api"),
        ("MBO_GA4_PROPERTY_IDS", "unset"),
        ("GOOGLE_APPLICATION_CREDENTIALS", "unset: gcloud's application-default credentials"),
        ("MBO_GA4_ENDPOINT", "Google's"),
        ("MBO_API_MAX_ATTEMPTS", "5"),
        ("MBO_API_BACKOFF_SECONDS", "2"),
        ("MBO_API_MAX_BACKOFF_SECONDS", "60"),
    )),
    ("sandbox", (
        ("MBO_SANDBOX_SEED", "7"),
        ("MBO_SANDBOX_CAMPAIGNS", "unset: the 51-campaign market"),
        ("MBO_SANDBOX_TODAY", "unset: today, UTC"),
        ("MBO_SANDBOX_FAULTS", "unset: no faults"),
    )),
)
#: Read by others, not by ``mbo``: the dbt profile (MBO derives these from the database URL before it runs dbt)
#: and docker-compose (``.env``). Listed so that ``mbo check`` does not call them unknown.
OTHER_VARIABLES = frozenset({
    "MBO_DB_HOST", "MBO_DB_PORT", "MBO_DB_USER", "MBO_DB_PASSWORD", "MBO_DB_NAME",
    "MBO_ADMIN_PASSWORD", "MBO_APP_PASSWORD", "MBO_BI_PASSWORD", "MBO_UI_USER", "MBO_UI_PASSWORD_HASH",
    "MBO_UI_BIND", "MBO_UI_PORT", "MBO_PG_PUBLISH_PORT",
})
#: ``only_for`` name of ``mbo extract`` when it loads the FX rates (no ``--platform``, or ``--platform fx_rates``).
FX_COMMAND = "extract fx_rates"
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|_KEY$|CREDENTIAL")


def is_secret(name: str) -> bool:
    """Whether ``name``'s value must never be shown."""
    return (name in SECRET_VARIABLES or bool(_SECRET_NAME.search(name))) and name != "GOOGLE_APPLICATION_CREDENTIALS"


def shown_value(name: str, value: str) -> str:
    """``value`` as ``mbo check`` shows it: ``***`` for a secret, a URL's password masked."""
    if is_secret(name):
        return MASK
    return redact(settings.redact_url(value)) if "://" in value or "password" in value.lower() else redact(value)


def configuration_lines(env: dict[str, str] | None = None) -> list[str]:
    """Every variable MBO reads, by group: its value (secrets masked) or, unset, its default."""
    env = dict(os.environ) if env is None else env
    width = max(len(name) for _, names in VARIABLES for name, _ in names)
    lines = []
    for group, names in VARIABLES:
        lines.append(f"{group}:")
        for name, default in names:
            value = (env.get(name) or "").strip()
            shown = shown_value(name, value) if value else f"({default})" if default.startswith("unset") \
                else f"(default: {default})"
            lines.append(f"  {name:<{width}}  {shown}")
    known = {name for _, names in VARIABLES for name, _ in names} | OTHER_VARIABLES
    unknown = sorted(name for name in env if name.startswith("MBO_") and name not in known)
    if unknown:
        lines.append(f"not read by MBO (a typo?): {', '.join(unknown)}")
    return lines


# --- the settings ------------------------------------------------------------------------------------------

#: How to set each variable right, in the words of its fix.
FIXES: dict[str, str] = {
    "MBO_DATABASE_URL": "set it to a URL like postgresql://user:password@host:5432/mbo, or unset it to use the "
                        "embedded server",
    "MBO_HOME": "point it at a folder (it is created when missing), or unset it for .mbo/ in the checkout",
    "DAGSTER_HOME": "point it at a folder (it is created when missing), or unset it for $MBO_HOME/dagster",
    "MBO_PG_PORT": "set it to a free port such as 54329, or unset it",
    "MBO_BI_ROLE": "set it to a role name such as mbo_bi, or unset it",
    "MBO_REPORTING_CURRENCY": "set it to a currency code such as USD or EUR, or unset it for USD",
    "MBO_FX_RATES_CSV": "point it at an ECB rates file (README, Configuration), or unset it on the sandbox",
    "MBO_FX_MAX_FILL_DAYS": "set it to a whole number of days such as 7, or unset it",
    "MBO_META_CONVERSION_ACTION": "set it to a Meta action type such as omni_purchase, or unset it",
    "MBO_START_DATE": "set it to the first day to load, such as 2025-01-01, or unset it",
    "MBO_LOOKBACK_DAYS": "set it to a whole number of days such as 7 (0: none), or unset it",
    "MBO_VOLUME_MIN_RATIO": "set MBO_VOLUME_MIN_RATIO to at most 1 (e.g. 0.5) and MBO_VOLUME_MAX_RATIO to at least 1 "
                            "(e.g. 3), or unset them",
    "MBO_VOLUME_WEEKS": "set it to a whole number of weeks such as 4, or unset it",
    "MBO_MARTS_MAX_AGE_HOURS": "set it to a number of hours such as 30, or unset it",
    "MBO_CONVERSION_SOURCE": "set it to platform or deduplicated, or unset it",
    "MBO_HISTORY_DAYS": "set it to a whole number of days such as 90, or unset it",
    "MBO_MAX_BUDGET_CHANGE": "set it to e.g. 0.3 (±30%) or unset it",
    "MBO_TARGET_MARGINAL_ROAS": "set it to a positive number such as 1.0 (break-even), or unset it",
    "MBO_PLAN_MAX_AGE_HOURS": "set it to a number of hours such as 36, or unset it",
    "MBO_REPORT_MAX_CAMPAIGNS": "set it to a whole number of campaigns such as 2000, or unset it",
    "MBO_ACTIVATION": "set it to off, dry_run, approve or auto, or unset it",
    "MBO_ALLOW_LIVE_BUDGET_CHANGES": "set it to exactly 1 to apply budget changes on live platforms, or unset it "
                                     "(dry-run)",
    "MBO_APPROVAL_ABOVE_CHANGE": "set it to a fraction such as 0.2, or unset it for no threshold",
    "MBO_APPROVAL_ABOVE_AMOUNT": "set it to a daily amount such as 500, or unset it for no threshold",
    "MBO_ACCOUNTS_FILE": "correct the file (its shape: mbo_accounts.example.toml), or unset MBO_ACCOUNTS_FILE",
    "MBO_MIN_DAILY_BUDGET": "set it to an amount such as 5 or 12.50, or unset it",
    "MBO_MAX_DAILY_BUDGET": "set it to an amount such as 5000, or unset it",
    "MBO_ACCOUNT_DAILY_CAP": "set it to an amount such as 10000, or unset it",
    "MBO_COOLDOWN_HOURS": "set it to a number of hours such as 24 (0: none), or unset it",
    "MBO_PUSH_BATCH_SIZE": "set it to a whole number such as 200, or unset it",
    "MBO_RESUME_AFTER_MINUTES": "set it to a number of minutes such as 15, or unset it",
    "MBO_SOURCE": "set it to sandbox or live, or unset it for the sandbox",
    "MBO_IMPORT_DIR": "create that folder, or point MBO_IMPORT_DIR at the folder of CSV files, or unset it",
    "MBO_GOOGLE_ADS_CUSTOMER_IDS": "list 10-digit customer ids, comma-separated, or unset it to disable Google Ads",
    "MBO_META_AD_ACCOUNT_IDS": "list ad account ids (act_<digits>), comma-separated, or unset it to disable Meta",
    "MBO_TIKTOK_ADVERTISER_IDS": "list numeric advertiser ids, comma-separated, or unset it to disable TikTok",
    "MBO_GA4_PROPERTY_IDS": "list numeric property ids, comma-separated, or unset it to disable GA4",
    "GOOGLE_APPLICATION_CREDENTIALS": "point it at the service account's JSON key file, or unset it for gcloud's "
                                      "application-default credentials",
    "MBO_API_MAX_ATTEMPTS": "set it to a whole number such as 5, or unset it",
    "MBO_API_BACKOFF_SECONDS": "set numbers of seconds with MBO_API_BACKOFF_SECONDS (e.g. 2) at most "
                               "MBO_API_MAX_BACKOFF_SECONDS (e.g. 60), or unset them",
    "MBO_SANDBOX_SEED": "set it to a whole number such as 7, or unset it",
    "MBO_SANDBOX_CAMPAIGNS": "set it to a whole number of campaigns such as 500, or unset it for the default market",
    "MBO_SANDBOX_TODAY": "set it to a date such as 2026-11-28, or unset it for today",
    "MBO_ALERT_ACTION": "set it to hold or approve, or unset it",
    "MBO_ALERT_WEBHOOK_URL": "set it to the https URL of a Slack (or Slack-compatible) incoming webhook, or unset it",
    "MBO_SANDBOX_FAULTS": "set it to faults such as spend_spike,missing_day@-3, or unset it for none",
}
FIXES.update({name: f"set it to a number like its default {default} (README, Alerts), or unset it"
              for name, default in dict(VARIABLES)["alerts"] if name not in FIXES})
FIXES["MBO_VOLUME_MAX_RATIO"] = FIXES["MBO_VOLUME_MIN_RATIO"]
FIXES["MBO_API_MAX_BACKOFF_SECONDS"] = FIXES["MBO_API_BACKOFF_SECONDS"]
_VARIABLE = re.compile(r"\b(?:MBO|GOOGLE|META|TIKTOK|DAGSTER)_[A-Z0-9_]+\b")


def _problem(variables: tuple[str, ...], error: Exception) -> Problem:
    """A reader's error as a problem: its first line (secrets masked), named by a variable if it names none."""
    text = redact(str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)
    named = [name for name in _VARIABLE.findall(text) if name in variables or name in FIXES]
    variable = named[0] if named else variables[0]
    if not named:
        text = f"{variable}: {text}"
    # Some readers say the fix themselves ("...; point it at a TOML file ..., or unset it").
    fix = "" if re.search(r"\bunset (it|them)\b", text) else FIXES.get(variable, "")
    return Problem(variable, text, fix, error=error)


def stops(problem: Problem, command: str) -> bool:
    """Whether ``problem`` concerns ``command`` (``extract fx_rates`` for an extract that loads the FX rates)."""
    return not problem.only_for or command in problem.only_for


def _read(variables: tuple[str, ...], read: Callable[[], object]) -> Iterator[Problem]:
    try:
        read()
    except (ValueError, OSError) as error:
        yield _problem(variables, error)


@contextlib.contextmanager
def _without(names: Iterable[str]) -> Iterator[None]:
    """``os.environ`` without ``names`` for a while: a reader that reads several settings (the accounts file reads
    every activation default) then reports its own problem, not again one already reported."""
    saved = {name: os.environ.pop(name) for name in set(names) if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _folder(name: str, path: Callable[[], Path]) -> Callable[[], None]:
    def read() -> None:
        if (os.environ.get(name) or "").strip() and path().exists() and not path().is_dir():
            raise ValueError(f"{name} is {str(path())!r}, which is a file, not a folder")
    return read


def _existing_file(name: str) -> Callable[[], None]:
    def read() -> None:
        value = (os.environ.get(name) or "").strip()
        if value and not Path(value).expanduser().is_file():
            raise ValueError(f"{name} is {value!r}, which is not a file")
    return read


def _dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or settings.mbo_home() / "dagster").resolve()


def _allow_live() -> None:
    raw = (os.environ.get("MBO_ALLOW_LIVE_BUDGET_CHANGES") or "").strip()
    if raw not in ("", "0", "1"):
        raise ValueError(f"MBO_ALLOW_LIVE_BUDGET_CHANGES must be 1 (apply live budget changes) or 0, got {raw!r}, "
                         "so live platforms stay dry-run")


def _database_settings() -> Iterator[Problem]:
    """MBO_DATABASE_URL's form; for the embedded server, its folder and port (taken by another program?)."""
    try:
        external = settings.external_database_url()
    except ValueError as error:
        yield _problem(("MBO_DATABASE_URL",), error)
        return
    yield from _read(("DAGSTER_HOME",), _folder("DAGSTER_HOME", _dagster_home))
    if external:
        return
    yield from _read(("MBO_HOME",), _folder("MBO_HOME", settings.mbo_home))
    try:
        port = settings.embedded_port()
    except ValueError as error:
        yield _problem(("MBO_PG_PORT",), error)
        return
    yield from embedded_port_problems(settings.embedded_server(), port)


def embedded_port_problems(server, port: int) -> Iterator[Problem]:
    """The embedded server's port: taken by another program (fatal), or the running server on another port than
    ``MBO_PG_PORT`` (not fatal: MBO keeps using the port it runs on)."""
    from mbo_pipelines.embedded_db import _port_in_use

    if server.is_running():
        running = server.running_port()
        if running is not None and running != port:
            yield Problem("MBO_PG_PORT", f"the embedded PostgreSQL in {server.pgdata} runs on port {running}, not on "
                                         f"port {port} (MBO_PG_PORT)",
                          f"MBO uses port {running} until the server restarts: run `mbo db stop`, then `mbo db start` "
                          f"to move it to {port}, or set MBO_PG_PORT={running}", fatal=False)
    elif _port_in_use(server.host, port):
        yield Problem("MBO_PG_PORT", f"port {port} on {server.host} (MBO_PG_PORT) is taken by another program",
                      "set MBO_PG_PORT to a free port (or stop that program)")


def _quiet_dagster_imports() -> None:
    """Importing the definitions' modules must not print Dagster's beta/preview notices to the command's stderr."""
    import dagster as dg

    for category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
        warnings.filterwarnings("ignore", category=category)


def _platform_problems() -> Iterator[Problem]:
    """Live mode: each platform's ids, what an enabled platform misses, the FX rates file it needs."""
    try:
        mode = platform_setup.source()
    except ValueError as error:
        yield _problem(("MBO_SOURCE",), error)
        return
    if mode != platform_setup.LIVE:
        return
    env = os.environ
    readers = {
        "MBO_GOOGLE_ADS_CUSTOMER_IDS": platform_setup.google_customer_ids,
        "MBO_META_AD_ACCOUNT_IDS": platform_setup.meta_account_ids,
        "MBO_TIKTOK_ADVERTISER_IDS": lambda raw: platform_setup.numeric_ids("MBO_TIKTOK_ADVERTISER_IDS", raw),
        "MBO_GA4_PROPERTY_IDS": lambda raw: platform_setup.numeric_ids("MBO_GA4_PROPERTY_IDS", raw),
    }
    bad = []
    for name, read in readers.items():
        for problem in _read((name,), lambda read=read, name=name: read((env.get(name) or "").strip())):
            bad.append(name)
            yield problem
    with _without(bad):
        setups = platform_setup.live_setups()
        csv_enabled = platform_setup.csv_enabled()
    for setup in setups.values():
        if setup.enabled and setup.missing:
            missing = ", ".join(setup.missing)
            verb = "is" if len(setup.missing) == 1 else "are"
            yield Problem(setup.missing[0], f"{setup.platform} is enabled ({setup.accounts_variable} is set) but "
                                            f"{missing} {verb} not set",
                          f"set {'it' if len(setup.missing) == 1 else 'them'} (see `mbo platforms`), or unset "
                          f"{setup.accounts_variable}")
    if not bad and not any(setups[p].enabled for p in platform_setup.NATIVE_PLATFORMS) and not csv_enabled:
        yield Problem("MBO_SOURCE", "MBO_SOURCE is live but no platform is enabled",
                      "set MBO_GOOGLE_ADS_CUSTOMER_IDS, MBO_META_AD_ACCOUNT_IDS, MBO_TIKTOK_ADVERTISER_IDS or "
                      "MBO_IMPORT_DIR (see `mbo platforms`), or unset MBO_SOURCE for the sandbox")
    if not (env.get("MBO_FX_RATES_CSV") or "").strip():
        # Only what loads raw/fx_rates needs it: `mbo extract --platform csv` or a push does not.
        yield Problem("MBO_FX_RATES_CSV", "MBO_FX_RATES_CSV is not set, and live mode needs real FX rates",
                      "download the ECB reference rates and point MBO_FX_RATES_CSV at the file (README, Configuration)",
                      only_for=(FX_COMMAND, "refresh", "demo"))
    if setups[platform_setup.GA4].enabled:
        yield from _read(("GOOGLE_APPLICATION_CREDENTIALS",), _existing_file("GOOGLE_APPLICATION_CREDENTIALS"))


def _readers() -> Iterable[tuple[tuple[str, ...], Callable[[], object]]]:
    """Each setting (or group read together) and the function the pipeline reads it with."""
    _quiet_dagster_imports()
    from mbo_pipelines import db_roles, partition_start
    from mbo_pipelines.defs.activate import account_settings, dagster_defs, modes, push
    from mbo_pipelines.defs.activate.guardrails import limits_from_env
    from mbo_pipelines.defs.alerts.thresholds import ENV_NAMES, thresholds_from_env
    from mbo_pipelines.defs.alerts.webhook import webhook_url
    from mbo_pipelines.defs.ingest import retrying
    from mbo_pipelines.defs.quality.rules import volume_band
    from mbo_pipelines import report_link
    from mbo_pipelines.resources import mbo_resource_from_env

    return (
        (("MBO_BI_ROLE",), db_roles.bi_role),
        (("MBO_REPORTING_CURRENCY",), settings.reporting_currency),
        (("MBO_FX_RATES_CSV",), _existing_file("MBO_FX_RATES_CSV")),
        (("MBO_FX_MAX_FILL_DAYS",), settings.fx_max_fill_days),
        (("MBO_META_CONVERSION_ACTION",), settings.meta_conversion_action),
        (("MBO_START_DATE",), partition_start.partitions_start),
        # defs.ingest.assets.lookback_days() reads it so; importing that module would fix the daily partitions' first
        # day in this process before `mbo extract` / `mbo demo` can record an earlier one (partition_start).
        (("MBO_LOOKBACK_DAYS",), lambda: settings.env_int("MBO_LOOKBACK_DAYS", 7, minimum=0)),
        (("MBO_VOLUME_MIN_RATIO", "MBO_VOLUME_MAX_RATIO", "MBO_VOLUME_WEEKS"), volume_band),
        # quality.freshness.marts_max_age() reads it so; importing that module loads the dbt project.
        (("MBO_MARTS_MAX_AGE_HOURS",), lambda: settings.env_hours("MBO_MARTS_MAX_AGE_HOURS", 30.0)),
        (("MBO_CONVERSION_SOURCE",), settings.conversion_source),
        (("MBO_HISTORY_DAYS",), settings.history_days),
        (("MBO_MAX_BUDGET_CHANGE",), settings.max_budget_change),
        (("MBO_TARGET_MARGINAL_ROAS",), settings.target_marginal_roas),
        (("MBO_REPORT_MAX_CAMPAIGNS",), report_link.max_campaigns),
        (("MBO_PLAN_MAX_AGE_HOURS",), lambda: limits_from_env(max_change=settings.DEFAULT_MAX_BUDGET_CHANGE)),
        (("MBO_ACTIVATION",), modes.configured_mode),
        (("MBO_ALLOW_LIVE_BUDGET_CHANGES",), _allow_live),
        (("MBO_APPROVAL_ABOVE_CHANGE", "MBO_APPROVAL_ABOVE_AMOUNT"), modes.approval_thresholds),
        (("MBO_MIN_DAILY_BUDGET", "MBO_MAX_DAILY_BUDGET", "MBO_ACCOUNT_DAILY_CAP", "MBO_COOLDOWN_HOURS"),
         account_settings.env_defaults),
        (("MBO_ACCOUNTS_FILE",), account_settings.load_account_settings),
        (("MBO_PUSH_BATCH_SIZE",), push.batch_size_from_env),
        (("MBO_RESUME_AFTER_MINUTES",), dagster_defs.resume_after_minutes),
        (("MBO_IMPORT_DIR",), _folder_that_exists("MBO_IMPORT_DIR")),
        (("MBO_API_MAX_ATTEMPTS",), retrying.max_attempts),
        (("MBO_API_BACKOFF_SECONDS", "MBO_API_MAX_BACKOFF_SECONDS"), retrying.backoff_seconds),
        (tuple(ENV_NAMES.values()), thresholds_from_env),
        (("MBO_ALERT_WEBHOOK_URL",), webhook_url),
        (("MBO_SANDBOX_SEED", "MBO_SANDBOX_CAMPAIGNS", "MBO_SANDBOX_FAULTS"), mbo_resource_from_env),
        (("MBO_SANDBOX_TODAY",), lambda: mbo_resource_from_env().today()),
    )


def _folder_that_exists(name: str) -> Callable[[], None]:
    def read() -> None:
        value = (os.environ.get(name) or "").strip()
        if value and not Path(value).expanduser().is_dir():
            raise ValueError(f"{name} is {value!r}, which does not exist or is not a folder")
    return read


def _imported_readers(problems: list[Problem]) -> Iterable[tuple[tuple[str, ...], Callable[[], object]]]:
    """``_readers()``, whose imports read a few settings themselves (the daily partitions' first day reads
    ``MBO_HISTORY_DAYS``): a bad one becomes a problem, and the import is tried again without it (its default then
    applies in this process, which stops anyway)."""
    while True:
        try:
            with _without(p.variable for p in problems):
                return _readers()
        except ValueError as error:
            problem = _problem(("MBO_HISTORY_DAYS",), error)
            if problem.variable not in os.environ or any(p.variable == problem.variable for p in problems):
                raise
            problems.append(problem)


def ordered(problems: Iterable[Problem]) -> list[Problem]:
    """``problems`` in the order of the README's table (of ``VARIABLES``)."""
    names = [name for _, names in VARIABLES for name, _ in names]
    return sorted(problems, key=lambda p: names.index(p.variable) if p.variable in names else len(names))


def check_settings() -> list[Problem]:
    """Every problem with the configuration that needs no database connection, one per setting (or group read
    together), in the README's order; empty when MBO can start."""
    problems = list(_database_settings())
    for variables, read in _imported_readers(problems):
        with _without({p.variable for p in problems} - set(variables)):
            problems += _read(variables, read)
    with _without({p.variable for p in problems} - {"MBO_SOURCE"}):
        problems += _platform_problems()
    unique: dict[str, Problem] = {}
    for problem in problems:
        unique.setdefault(problem.message, problem)
    return ordered(unique.values())


# --- the database ------------------------------------------------------------------------------------------

_REASONS: tuple[tuple[str, str], ...] = (
    ("password authentication failed", "correct the user name or password in MBO_DATABASE_URL"),
    ("no password supplied", "add the password to MBO_DATABASE_URL (postgresql://user:password@host/db)"),
    ("does not exist", "create it on that server, or correct the name in MBO_DATABASE_URL"),
    ("no pg_hba.conf entry", "ask the server's administrator to let this user in from here (pg_hba.conf), or "
                             "correct MBO_DATABASE_URL"),
    ("failed to resolve host", "correct the host in MBO_DATABASE_URL"),
    ("could not translate host name", "correct the host in MBO_DATABASE_URL"),
)


def _reason(error: Exception) -> str:
    """libpq's reason, without its preamble, on one line: 'Connection refused', 'password authentication failed
    for user "x"', ..."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    text = text.rsplit(" failed: ", 1)[-1] if " failed: " in text and "resolve host" not in text else text
    text = re.sub(r"^(connection failed: |FATAL:\s+)", "", text)
    return re.sub(r"^FATAL:\s+", "", text)


def reach_database(url: str, variable: str | None = "MBO_DATABASE_URL") -> tuple[str | None, Problem | None]:
    """Connect to ``url`` once (within ``settings.CONNECT_TIMEOUT_SECONDS``, no retry): what it is
    (``PostgreSQL 17.2, database mbo as mbo_app``) and no problem, or no description and the problem, naming
    ``variable`` (None: the embedded server) and the URL with its password masked."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=settings.CONNECT_TIMEOUT_SECONDS, autocommit=True) as conn:
            version, database, user = conn.execute(
                "select current_setting('server_version'), current_database(), current_user").fetchone()
    except (psycopg.Error, OSError) as error:
        problem = _unreachable(url, variable, error)
        return None, Problem(problem.variable, problem.message, problem.fix, error=error)
    return f"PostgreSQL {version.split()[0]}, database {database} as {user}", None


def _unreachable(url: str, variable: str | None, error: Exception) -> Problem:
    parsed = urlparse(url)
    where = f"{parsed.hostname}:{parsed.port or 5432}"
    reason, password = _reason(error), (parsed.password or "",)
    if variable is None:
        return Problem("MBO_HOME", redact(f"the embedded PostgreSQL ({settings.redact_url(url)}) refuses connections: "
                                          f"{reason}", password),
                       f"see {settings.mbo_home() / 'postgres.log'}; `mbo db stop` and `mbo db start` restart it")
    if "timeout expired" in reason or "timed out" in reason:
        reason = f"no answer from {where} within {settings.CONNECT_TIMEOUT_SECONDS} s"
    fix = next((fix for marker, fix in _REASONS if marker in reason),
               f"start the PostgreSQL server at {where}, or correct the host and port in MBO_DATABASE_URL "
               f"(or unset it to use the embedded server)")
    return Problem(variable, redact(f"{variable} ({settings.redact_url(url)}) cannot be reached: {reason}", password),
                   fix)


def database_problems() -> list[Problem]:
    """``MBO_DATABASE_URL``, when set and well formed, as a problem if it cannot be reached; nothing otherwise
    (the embedded server is started by the command itself)."""
    try:
        url = settings.external_database_url()
    except ValueError:
        return []  # check_settings() reports it
    problem = reach_database(url)[1] if url else None
    return [problem] if problem else []
