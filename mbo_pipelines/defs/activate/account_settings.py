"""Per-account activation settings: the mode and the limits of every ad account, from a TOML file and the environment.

The file is ``MBO_ACCOUNTS_FILE`` when set (it must then exist), else
``mbo_accounts.toml`` at the project root when there is one, else none (every
account gets the environment's settings). ``mbo_accounts.example.toml`` at the
project root is a commented example. Its shape::

    [defaults]                          # optional: every account
    mode = "auto"
    max_change = 0.30

    [platforms.meta_ads]                # optional: every account of one platform
    min_daily_budget = 5

    [accounts."google_ads/1234567890"]  # one account: "<platform>/<account id>", quoted
    mode = "approve"
    min_daily_budget = 5
    max_daily_budget = 500
    daily_cap = 2000
    cooldown_hours = 6
    approval_above_change = 0.2
    approval_above_amount = 100

The keys, in any section:

- ``mode``: ``off``, ``dry_run``, ``approve`` or ``auto`` (see ``modes``);
- ``max_change``: the largest relative change of a campaign's budget, a fraction in (0, 1];
- ``min_daily_budget`` / ``max_daily_budget``: bounds on each campaign's daily budget, in the account's currency;
- ``daily_cap``: the most the account's campaigns' daily budgets may add up to after a change (account currency);
- ``cooldown_hours``: the least time between two applied changes of the same campaign's budget;
- ``approval_above_change`` / ``approval_above_amount``: in ``auto`` mode, a change above this relative change, or
  above this daily amount in the reporting currency, waits for approval.

Amounts are numbers or decimal strings (``"12.50"``); the string ``"none"`` removes a limit
(``min_daily_budget``, ``max_daily_budget``, ``daily_cap``, ``approval_above_*``) that a broader
section or the environment set.

Each setting of an account comes from the first of: its ``[accounts."<platform>/<id>"]`` section,
its ``[platforms.<platform>]`` section, ``[defaults]``, the environment (``MBO_ACTIVATION``,
``MBO_MAX_BUDGET_CHANGE``, ``MBO_MIN_DAILY_BUDGET``, ``MBO_MAX_DAILY_BUDGET``, ``MBO_ACCOUNT_DAILY_CAP``,
``MBO_COOLDOWN_HOURS``, ``MBO_APPROVAL_ABOVE_CHANGE``, ``MBO_APPROVAL_ABOVE_AMOUNT``), the built-in
default (no mode: live platforms rehearse and the sandbox applies; ``max_change`` 0.30; cooldown 0;
no other limit). So a file section wins over ``MBO_ACTIVATION``: to stop every write whatever the
file says, use the kill switch ``MBO_KILL_SWITCH=1``.

Account ids are written as the platforms show them: Google Ads customer ids with or without dashes,
Meta ad accounts with or without ``act_``.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from mbo_pipelines import settings
from mbo_pipelines.defs.activate import modes
from mbo_pipelines.defs.activate.guardrails import meta_account_id

ACCOUNTS_FILE_ENV = "MBO_ACCOUNTS_FILE"
DEFAULT_ACCOUNTS_FILE = "mbo_accounts.toml"
KILL_SWITCH_ENV = "MBO_KILL_SWITCH"
#: Values of ``MBO_KILL_SWITCH`` that leave it off; any other value stops every write.
_KILL_SWITCH_OFF = frozenset({"", "0", "false", "no", "off"})

#: Platform names (native or CSV-imported): lower-case words joined by underscores.
_PLATFORM_NAME = re.compile(r"[a-z][a-z0-9_]*")
#: Account id shapes of the native platforms; any other platform takes any id without spaces or slashes.
_ACCOUNT_IDS = {
    "google_ads": (re.compile(r"\d{3}-?\d{3}-?\d{4}"), "a 10-digit customer id, dashes allowed"),
    "meta_ads": (re.compile(r"(act_)?\d+"), "an ad account id: digits, with or without act_"),
    "tiktok_ads": (re.compile(r"\d+"), "a numeric advertiser id"),
}
_ANY_ACCOUNT_ID = re.compile(r"[^\s/]+")


@dataclass(frozen=True)
class AccountSettings:
    """The activation settings of one ad account (amounts in the account's currency unless said otherwise).

    ``None`` means no such limit, except for ``mode``, where it means the platform's default
    (see ``activation_mode``). ``sections`` names where the values came from, broadest first.
    """

    mode: str | None = None
    max_change: float = settings.DEFAULT_MAX_BUDGET_CHANGE
    min_daily_budget: Decimal | None = None
    max_daily_budget: Decimal | None = None
    daily_cap: Decimal | None = None
    cooldown_hours: float = 0.0
    approval_above_change: float | None = None
    #: In the reporting currency.
    approval_above_amount: float | None = None
    sections: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        problem = _invalid(self)
        if problem:
            raise ValueError(f"invalid account settings: {problem}")

    def activation_mode(self, is_live: bool) -> str:
        """The mode to push with: ``mode`` when set, else dry_run for a live platform (auto with
        ``MBO_ALLOW_LIVE_BUDGET_CHANGES=1``) and auto for the sandbox."""
        return self.mode or modes.platform_mode(is_live)

    def approval_thresholds(self) -> modes.ApprovalThresholds:
        """Above either threshold a change in ``auto`` mode waits for approval."""
        return modes.ApprovalThresholds(self.approval_above_change, self.approval_above_amount)


def _invalid(s: AccountSettings) -> str | None:
    """What is wrong with a whole set of settings (the loader names the file and section itself)."""
    if s.mode is not None and s.mode not in modes.MODES:
        return f"mode must be one of {', '.join(modes.MODES)}, got {s.mode!r}"
    if not (math.isfinite(s.max_change) and 0 < s.max_change <= 1):
        return f"max_change must be a fraction in (0, 1], got {s.max_change}"
    for name in ("min_daily_budget", "daily_cap"):
        value = getattr(s, name)
        if value is not None and not (value.is_finite() and value >= 0):
            return f"{name} must be an amount of at least 0, got {value}"
    if s.max_daily_budget is not None and not (s.max_daily_budget.is_finite() and s.max_daily_budget > 0):
        return f"max_daily_budget must be an amount greater than 0, got {s.max_daily_budget}"
    if (s.min_daily_budget is not None and s.max_daily_budget is not None
            and s.min_daily_budget > s.max_daily_budget):
        return f"min_daily_budget {s.min_daily_budget} is above max_daily_budget {s.max_daily_budget}"
    for name in ("cooldown_hours", "approval_above_change", "approval_above_amount"):
        value = getattr(s, name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            return f"{name} must be a number of at least 0, got {value}"
    return None


def kill_switch_on() -> str | None:
    """Why every budget write is stopped (``MBO_KILL_SWITCH`` set to anything but blank, 0, false, no or off),
    or None. It overrides every mode, in the environment or the accounts file."""
    raw = os.environ.get(KILL_SWITCH_ENV, "").strip()
    if raw.lower() in _KILL_SWITCH_OFF:
        return None
    return (f"kill_switch: {KILL_SWITCH_ENV}={raw} stops every budget write; "
            f"unset it (or set it to 0) to let pushes write again")


# --- reading one value --------------------------------------------------------------------------------

def _mode(value: Any) -> str:
    if not isinstance(value, str) or value.strip().lower() not in modes.MODES:
        raise ValueError(f"must be one of {', '.join(repr(m) for m in modes.MODES)}")
    return value.strip().lower()


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _fraction(value: Any) -> float:
    if not _is_number(value) or not 0 < value <= 1:
        raise ValueError("must be a fraction in (0, 1], such as 0.3 for ±30%")
    return float(value)


def _non_negative(value: Any) -> float:
    if not _is_number(value) or value < 0:
        raise ValueError("must be a number of at least 0")
    return float(value)


def _optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse_or_none(value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() == "none":
            return None
        return parse(value)
    return parse_or_none


def _amount(value: Any) -> Decimal:
    """A TOML number or decimal string as a non-negative Decimal (a float through its shortest repr: 0.1 is 0.1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("must be an amount of at least 0, such as 500 or \"12.50\"")
    try:
        return settings.parse_amount(str(value))
    except ValueError:
        raise ValueError("must be an amount of at least 0, such as 500 or \"12.50\"") from None


def _positive_amount(value: Any) -> Decimal:
    amount = _amount(value)
    if amount == 0:
        raise ValueError("must be an amount greater than 0")
    return amount


#: Every key a section may hold, and how its value is read.
_KEYS: dict[str, Callable[[Any], Any]] = {
    "mode": _mode,
    "max_change": _fraction,
    "min_daily_budget": _optional(_amount),
    "max_daily_budget": _optional(_positive_amount),
    "daily_cap": _optional(_amount),
    "cooldown_hours": _non_negative,
    "approval_above_change": _optional(_non_negative),
    "approval_above_amount": _optional(_non_negative),
}


# --- the environment ----------------------------------------------------------------------------------

def env_defaults() -> AccountSettings:
    """The settings every account has when no file section says otherwise, from the environment."""
    thresholds = modes.approval_thresholds()
    values = dict(
        mode=modes.configured_mode(),
        max_change=settings.max_budget_change(),
        min_daily_budget=settings.env_amount("MBO_MIN_DAILY_BUDGET"),
        max_daily_budget=settings.env_amount("MBO_MAX_DAILY_BUDGET"),
        daily_cap=settings.env_amount("MBO_ACCOUNT_DAILY_CAP"),
        cooldown_hours=settings.env_float("MBO_COOLDOWN_HOURS", 0.0),
        approval_above_change=thresholds.relative_change,
        approval_above_amount=thresholds.reporting_amount,
    )
    if values["cooldown_hours"] < 0:
        raise ValueError(f"MBO_COOLDOWN_HOURS must be a number of hours of at least 0, got {values['cooldown_hours']}")
    if values["max_daily_budget"] is not None and values["max_daily_budget"] == 0:
        raise ValueError("MBO_MAX_DAILY_BUDGET must be greater than 0 (unset it for no maximum)")
    low, high = values["min_daily_budget"], values["max_daily_budget"]
    if low is not None and high is not None and low > high:
        raise ValueError(f"MBO_MIN_DAILY_BUDGET ({low}) is above MBO_MAX_DAILY_BUDGET ({high}); "
                         f"the minimum daily budget must not exceed the maximum")
    return AccountSettings(**values, sections=("environment",))


# --- the file -----------------------------------------------------------------------------------------

def accounts_file(project_root: Path = settings.PROJECT_ROOT) -> Path | None:
    """The accounts file to read: ``MBO_ACCOUNTS_FILE`` (which must exist), else ``<project_root>/mbo_accounts.toml``
    when it exists, else None."""
    configured = os.environ.get(ACCOUNTS_FILE_ENV, "").strip()
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            raise ValueError(f"{ACCOUNTS_FILE_ENV} is {configured!r}, which is not a file; point it at a TOML file "
                             f"shaped like mbo_accounts.example.toml, or unset it")
        return path
    default = project_root / DEFAULT_ACCOUNTS_FILE
    return default if default.is_file() else None


def account_key(platform: str, account_id: str) -> tuple[str, str]:
    """(platform, account id) as the settings book files it: Google Ads ids without dashes, Meta ids with ``act_``."""
    platform, account_id = platform.strip(), str(account_id).strip()
    if platform == "google_ads":
        account_id = account_id.replace("-", "")
    elif platform == "meta_ads":
        account_id = meta_account_id(account_id)
    return platform, account_id


@dataclass(frozen=True)
class AccountSettingsBook:
    """Every account's settings: ``for_account`` resolves one; ``source`` is the file read (None: none)."""

    source: Path | None
    defaults: AccountSettings
    platforms: Mapping[str, AccountSettings] = field(default_factory=dict)
    accounts: Mapping[tuple[str, str], AccountSettings] = field(default_factory=dict)

    def for_account(self, platform: str, account_id: str) -> AccountSettings:
        """The settings of one account: its own section, else its platform's, else the defaults."""
        key = account_key(platform, account_id)
        if key in self.accounts:
            return self.accounts[key]
        return self.platforms.get(key[0], self.defaults)


def load_account_settings(path: Path | str | None = None) -> AccountSettingsBook:
    """The settings book from ``path``, else from ``accounts_file()``, over the environment's defaults.

    ValueError naming the file, the section and the key for anything the file gets wrong.
    """
    env = env_defaults()
    source = Path(path) if path is not None else accounts_file()
    if source is None:
        return AccountSettingsBook(source=None, defaults=env)
    try:
        with source.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML ({exc}); see mbo_accounts.example.toml for the shape") from None
    except OSError as exc:
        raise ValueError(f"{source}: cannot read the accounts file ({exc.strerror or exc})") from None
    return _book(source, document, env)


def _book(source: Path, document: dict[str, Any], env: AccountSettings) -> AccountSettingsBook:
    where = str(source)
    allowed_tables = '[defaults], [platforms.<platform>] and [accounts."<platform>/<account id>"]'
    for name in document:
        if name not in ("defaults", "platforms", "accounts"):
            raise ValueError(f"{where}: unknown section [{name}]; the file holds only {allowed_tables}")
    defaults = env
    if "defaults" in document:
        defaults = _resolve(where, env, _section(where, "defaults", document["defaults"]), "defaults")

    platforms: dict[str, AccountSettings] = {}
    for platform, table in _tables(where, "platforms", document.get("platforms", {})).items():
        section = f"platforms.{platform}"
        if not _PLATFORM_NAME.fullmatch(platform):
            raise ValueError(f"{where}: [{section}]: {platform!r} is not a platform name; use the platform as MBO "
                             f"names it, such as google_ads, meta_ads or tiktok_ads")
        platforms[platform] = _resolve(where, defaults, _section(where, section, table), section)

    accounts: dict[tuple[str, str], AccountSettings] = {}
    for name, table in _tables(where, "accounts", document.get("accounts", {})).items():
        section = f'accounts."{name}"'
        key = _parse_account_key(where, name)
        if key in accounts:
            raise ValueError(f"{where}: [{section}] is the same account as another section ({key[0]}/{key[1]}); "
                             f"keep one section per account")
        base = platforms.get(key[0], defaults)
        accounts[key] = _resolve(where, base, _section(where, section, table), section)
    return AccountSettingsBook(source=source, defaults=defaults, platforms=platforms, accounts=accounts)


def _tables(where: str, name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: [{name}] must be a table of sections, such as [{name}.<name>]")
    return value


def _parse_account_key(where: str, name: str) -> tuple[str, str]:
    shape = 'write accounts as [accounts."<platform>/<account id>"], quoted, such as [accounts."google_ads/1234567890"]'
    platform, slash, account_id = name.partition("/")
    if not slash or not _PLATFORM_NAME.fullmatch(platform) or not _ANY_ACCOUNT_ID.fullmatch(account_id):
        raise ValueError(f'{where}: [accounts."{name}"] is not an account key; {shape}')
    pattern, what = _ACCOUNT_IDS.get(platform, (_ANY_ACCOUNT_ID, "an id without spaces or slashes"))
    if not pattern.fullmatch(account_id):
        raise ValueError(f'{where}: [accounts."{name}"]: {account_id!r} is not {what}')
    return account_key(platform, account_id)


def _section(where: str, section: str, table: Any) -> dict[str, Any]:
    """One section's keys, each read and checked; ValueError naming file, section, key and what is allowed."""
    if not isinstance(table, dict):
        raise ValueError(f"{where}: {section} must be a section ([{section}]) of settings, got {table!r}")
    values = {}
    for key, raw in table.items():
        if key not in _KEYS:
            hint = (" (a nested table: quote the account key, as in [accounts.\"google_ads/1234567890\"])"
                    if isinstance(raw, dict) else "")
            raise ValueError(f"{where}: [{section}] has an unknown key {key!r}{hint}; "
                             f"the keys allowed are {', '.join(_KEYS)}")
        try:
            values[key] = _KEYS[key](raw)
        except ValueError as exc:
            raise ValueError(f"{where}: [{section}] {key} = {raw!r}: {exc}") from None
    return values


def _resolve(where: str, base: AccountSettings, values: dict[str, Any], section: str) -> AccountSettings:
    """``base`` with a section's values on top; ValueError naming the section when the two together disagree."""
    merged = {name: getattr(base, name) for name in _KEYS} | values
    low, high = merged["min_daily_budget"], merged["max_daily_budget"]
    if low is not None and high is not None and low > high:
        origin = ", ".join(k for k in ("min_daily_budget", "max_daily_budget") if k in values)
        raise ValueError(f"{where}: [{section}] {origin}: min_daily_budget {low} is above max_daily_budget {high} "
                         f"(with the values inherited from {', '.join(base.sections) or 'the defaults'}); "
                         f"the minimum must not exceed the maximum")
    return AccountSettings(**merged, sections=(*base.sections, section))
