"""Guardrails: the checks a budget change must pass BEFORE anything is written to an ad platform.

Every function here is pure: it takes numbers (and the platform's rows, already
fetched) and returns ``None`` when the rule holds, or a reason string that
names the rule and the numbers when it does not. A reason always starts with
``"<rule>: "`` so the ledger's ``error`` column can be grouped by rule.

Rules on a whole plan (one failure refuses every change of the plan):

- ``finite_numbers``: no NaN or infinity in any number of the plan or its rows;
- ``solver_success``: the optimizer reported success;
- ``plan_age``: the plan is at most ``MBO_PLAN_MAX_AGE_HOURS`` (default 36) hours old;
- ``plan_total``: the recommended reporting budgets sum to the plan's total within 0.01;
- ``latest_plan``: no newer plan exists (a superseded plan is never pushed);
- ``currency_conversion``: every recommended budget in the account's currency, at the rate the plan
  converted the campaign's current budget with, is its reporting-currency recommendation (within a
  cent and the rounding of the account-currency cents): a plan that forgot to convert back (reporting
  amounts sent as EUR or PLN) is refused.

Rules on one change:

- ``positive_budget``: the new budget is finite and greater than zero;
- ``currency``: the plan's currency is the platform account's currency;
- ``campaign_exists``: the platform still knows the campaign;
- ``stale_plan``: the budget in force on the platform now is within 1% of the
  plan's current budget (or already of the new one, as after an interrupted push);
- ``max_change``: the new budget is within ``MBO_MAX_BUDGET_CHANGE`` (default
  0.30) of both the plan's current budget and the budget in force now, unless it
  moves the budget back toward the one in force 24 hours earlier (an undo);
- ``max_change_24h``: and within it of the budget in force 24 hours earlier, before
  any change MBO applied since (so re-runs of the plan cannot stack their changes,
  and undoing them is always allowed);
- ``campaign_status``: the campaign is active on the platform (one paused or
  removed since the plan keeps its budget);
- ``own_budget``: the campaign has a daily budget of its own (a Meta campaign
  budgeted on its ad sets, or a TikTok lifetime budget, has none to change);
- ``shared_budget``: a budget shared by several campaigns (Google Ads'
  explicitly shared budgets) moves only when every campaign on it is in the plan.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from mbo_pipelines.currencies import minor_units_per_unit
from mbo_pipelines.settings import DEFAULT_MAX_BUDGET_CHANGE, env_float, max_budget_change

DEFAULT_MAX_CHANGE = DEFAULT_MAX_BUDGET_CHANGE  # the planner's too
DEFAULT_PLAN_MAX_AGE_HOURS = 36.0
#: How far the platform's budget may drift from the plan's current budget before the plan counts as stale.
STALE_TOLERANCE = 0.01
#: How far the recommended reporting budgets may sum from the plan total (reporting currency units).
TOTAL_TOLERANCE = 0.01

Number = float | int | Decimal


@dataclass(frozen=True)
class Limits:
    """The thresholds the guardrails apply."""

    max_change: float = DEFAULT_MAX_CHANGE
    max_plan_age_hours: float = DEFAULT_PLAN_MAX_AGE_HOURS
    stale_tolerance: float = STALE_TOLERANCE
    total_tolerance: float = TOTAL_TOLERANCE


def limits_from_env(max_change: float | None = None, max_plan_age_hours: float | None = None) -> Limits:
    """Limits from the arguments, else ``MBO_MAX_BUDGET_CHANGE`` / ``MBO_PLAN_MAX_AGE_HOURS``, else the defaults."""
    change = max_change if max_change is not None else max_budget_change()
    age = (max_plan_age_hours if max_plan_age_hours is not None
           else env_float("MBO_PLAN_MAX_AGE_HOURS", DEFAULT_PLAN_MAX_AGE_HOURS))
    if not (math.isfinite(change) and 0 < change <= 1):
        raise ValueError(f"the maximum budget change must be a fraction in (0, 1], got {change}")
    if not (math.isfinite(age) and age > 0):
        raise ValueError(f"the maximum plan age must be a positive number of hours, got {age}")
    return Limits(max_change=change, max_plan_age_hours=age)


def is_finite_number(value: Any) -> bool:
    """True for a finite int, float or Decimal (False for None, NaN, infinities and non-numbers)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, Decimal):
        return value.is_finite()
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    return False


def _fmt(value: Any) -> str:
    if isinstance(value, (float, Decimal)) and is_finite_number(value):
        return f"{float(value):.2f}"
    return str(value)


# --- the platform's own view of a campaign ---------------------------------------------------



@dataclass(frozen=True)
class LiveCampaign:
    """A campaign as the platform reports it now, its daily budget in account currency units.

    On a budget several campaigns share, ``daily_budget`` is the campaign's even share of it (as
    the marts count it) and ``budget_id`` names the budget; ``daily_budget`` is None for a
    campaign without a daily budget of its own.
    """

    account_id: str
    campaign_id: str
    currency: str
    daily_budget: Decimal | None
    budget_id: str | None = None
    shared_budget: bool = False
    #: ``active``, ``paused`` or ``removed`` (the platform's own word, lower-cased, for anything else).
    status: str = "active"


#: Each platform's campaign states in MBO's words; a state not listed here is not ``active``.
_STATUSES = {
    "google_ads": {"ENABLED": "active", "PAUSED": "paused", "REMOVED": "removed"},
    # Meta: a campaign with issues or in review still spends.
    "meta_ads": {"ACTIVE": "active", "IN_PROCESS": "active", "WITH_ISSUES": "active", "PAUSED": "paused",
                 "CAMPAIGN_PAUSED": "paused", "DELETED": "removed", "ARCHIVED": "removed"},
    "tiktok_ads": {"ENABLE": "active", "DISABLE": "paused", "DELETE": "removed"},
}
_STATUS_FIELDS = {"google_ads": "campaign_status", "meta_ads": "effective_status", "tiktok_ads": "operation_status"}
#: TikTok budget modes whose ``budget`` is a daily amount.
_TIKTOK_DAILY_MODES = frozenset({"BUDGET_MODE_DAY", "BUDGET_MODE_DYNAMIC_DAILY_BUDGET"})


def _status(platform: str, row: Mapping[str, Any]) -> str:
    raw = str(row.get(_STATUS_FIELDS[platform]) or "").strip().upper()
    if not raw:  # a connector that does not report states
        return "active"
    return _STATUSES[platform].get(raw, raw.lower())


def meta_account_id(account_id: str) -> str:
    """Meta's APIs report ``account_id`` as digits; MBO names accounts ``act_<digits>``, as Ads Manager does."""
    account_id = str(account_id)
    return account_id if account_id.startswith("act_") else f"act_{account_id}"


def live_campaign(platform: str, row: Mapping[str, Any]) -> LiveCampaign:
    """Read one ``fetch_campaigns()`` row, in the platform's own vocabulary, into currency units."""
    if platform == "google_ads":
        amount = Decimal(int(row["campaign_budget_amount_micros"])) / Decimal(1_000_000)
        shared = bool(row.get("campaign_budget_explicitly_shared")) and int(row.get("campaign_budget_reference_count") or 1) > 1
        if shared:
            amount = amount / int(row["campaign_budget_reference_count"])
        return LiveCampaign(str(row["customer_id"]), str(row["campaign_id"]), row["customer_currency_code"],
                            amount, budget_id=str(row.get("campaign_budget_id") or "") or None, shared_budget=shared,
                            status=_status(platform, row))
    if platform == "meta_ads":
        # Meta budgets are in minor units. A wrong offset cannot move money: the budget read back
        # would then differ from the plan's by 100x and ``stale_plan`` blocks the change.
        offset = minor_units_per_unit(row["account_currency"])
        budget = row.get("daily_budget")
        return LiveCampaign(meta_account_id(row["account_id"]), str(row["campaign_id"]), row["account_currency"],
                            None if budget is None else Decimal(int(budget)) / Decimal(offset),
                            status=_status(platform, row))
    if platform == "tiktok_ads":
        daily = str(row.get("budget_mode") or "BUDGET_MODE_DAY") in _TIKTOK_DAILY_MODES
        return LiveCampaign(str(row["advertiser_id"]), str(row["campaign_id"]), row["currency"],
                            Decimal(str(row["budget"])) if daily else None, status=_status(platform, row))
    raise ValueError(f"no budget vocabulary known for platform {platform!r}")


def live_campaigns(platform: str, rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], LiveCampaign]:
    """``fetch_campaigns()`` rows keyed by (account_id, campaign_id)."""
    campaigns = (live_campaign(platform, row) for row in rows)
    return {(c.account_id, c.campaign_id): c for c in campaigns}


# --- rules on one change ---------------------------------------------------------------------

def check_positive_budget(new: Number) -> str | None:
    """The new daily budget must be a finite number greater than zero."""
    if not is_finite_number(new) or new <= 0:
        return f"positive_budget: new daily budget {_fmt(new)} is not a finite number greater than 0"
    return None


def check_currency(plan_currency: str, platform_currency: str) -> str | None:
    """The plan's budgets must be in the currency the platform account bills in."""
    if plan_currency != platform_currency:
        return f"currency: plan budgets are in {plan_currency} but the platform account is in {platform_currency}"
    return None


def check_stale(current: Number, new: Number, live: Number, tolerance: float = STALE_TOLERANCE) -> str | None:
    """The platform's budget now must be within ``tolerance`` of the plan's current budget.

    A budget already equal (within ``tolerance``) to the new one also passes:
    that is what a push interrupted after the platform call left behind, and
    setting it again changes nothing.
    """
    if not (is_finite_number(current) and is_finite_number(live)):
        return f"stale_plan: cannot compare plan current budget {_fmt(current)} with platform budget {_fmt(live)}"
    if current > 0 and abs(float(live) - float(current)) <= tolerance * float(current):
        return None
    if is_finite_number(new) and new > 0 and abs(float(live) - float(new)) <= tolerance * float(new):
        return None
    return (
        f"stale_plan: budget on the platform is now {_fmt(live)}, the plan assumed {_fmt(current)} "
        f"(differs by more than {tolerance:.0%}); the budget was changed since the plan was made"
    )


def check_max_change(base: Number, new: Number, max_change: float, what: str = "current budget") -> str | None:
    """``new`` may differ from ``base`` by at most ``max_change`` of ``base``."""
    if not (is_finite_number(base) and base > 0 and is_finite_number(new)):
        return f"max_change: cannot compute the change from {what} {_fmt(base)} to {_fmt(new)}"
    change = (float(new) - float(base)) / float(base)
    # Budgets carry cents: allow half a cent of rounding on top of the limit. Decimal arithmetic, so a change of
    # exactly the limit is never refused by a float's last digit.
    base_d, new_d = Decimal(str(base)), Decimal(str(new))
    if abs(new_d - base_d) > Decimal(str(max_change)) * base_d + Decimal("0.005"):
        return (
            f"max_change: {_fmt(base)} -> {_fmt(new)} is a {change:+.1%} change of the {what}, "
            f"beyond the allowed ±{max_change:.0%}"
        )
    return None


def change_problems(
    current: Number,
    new: Number,
    currency: str,
    live: LiveCampaign | None,
    limits: Limits = Limits(),
    day_ago: Number | None = None,
) -> list[str]:
    """Every rule one change breaks (empty when it may be sent), given the platform's view of its campaign
    and ``day_ago``, the budget in force 24 hours earlier when MBO changed it since (else None)."""
    if problem := check_positive_budget(new):
        return [problem]
    if live is None:
        return ["campaign_exists: the platform no longer reports this campaign"]
    if live.status != "active":
        return [f"campaign_status: the campaign is {live.status} on the platform; its budget is left alone"]
    if live.daily_budget is None:
        return ["own_budget: the campaign has no daily budget of its own (its ad sets carry the budgets)"]
    checks = (
        check_currency(currency, live.currency),
        check_stale(current, new, live.daily_budget, limits.stale_tolerance),
        None if _undoes(new, current, day_ago) else
        check_max_change(current, new, limits.max_change, "plan's current budget"),
        None if _undoes(new, live.daily_budget, day_ago) else
        check_max_change(live.daily_budget, new, limits.max_change, "budget in force on the platform"),
        _rolling(check_max_change(day_ago, new, limits.max_change, "budget in force 24 hours ago"))
        if day_ago is not None else None,
    )
    return [p for p in checks if p]


def _undoes(new: Number, base: Number, day_ago: Number | None) -> bool:
    """True when ``new`` moves ``base`` back toward the budget in force 24 hours ago, not past it: undoing MBO's
    changes of the day is always allowed (the rolling limit, measured from ``day_ago``, still applies)."""
    if day_ago is None or not all(is_finite_number(v) for v in (new, base, day_ago)):
        return False
    return min(base, day_ago) <= new <= max(base, day_ago)


def _rolling(problem: str | None) -> str | None:
    return problem.replace("max_change:", "max_change_24h:", 1) if problem else None


def check_shared_budget(
    live: LiveCampaign, live_by_key: Mapping[tuple[str, str], LiveCampaign], plan_campaigns: set[tuple[str, str]]
) -> str | None:
    """A shared budget may move only when every campaign it funds is in the plan (else the plan would move
    campaigns it never looked at)."""
    if not live.shared_budget:
        return None
    siblings = sorted(c.campaign_id for c in live_by_key.values()
                      if c.account_id == live.account_id and c.budget_id == live.budget_id)
    outside = [cid for cid in siblings if (live.account_id, cid) not in plan_campaigns]
    if outside:
        return (
            f"shared_budget: budget {live.budget_id} is shared by campaigns {', '.join(siblings)}; "
            f"{', '.join(outside)} {'is' if len(outside) == 1 else 'are'} not in this plan, so the change is refused"
        )
    return None


# --- rules on a whole plan -------------------------------------------------------------------

def check_finite(values: Mapping[str, Any], where: str) -> str | None:
    """Every float or Decimal in ``values`` must be finite (None is not a number and passes)."""
    bad = [name for name, v in values.items()
           if isinstance(v, (float, Decimal)) and not is_finite_number(v)]
    if bad:
        shown = ", ".join(f"{name}={values[name]}" for name in bad)
        return f"finite_numbers: {where} has non-finite values: {shown}"
    return None


def check_solver(success: bool, message: str) -> str | None:
    """The optimizer must have reported success."""
    if not success:
        return f"solver_success: the optimizer did not succeed ({message})"
    return None


def check_plan_age(created_at: datetime, now: datetime, max_age_hours: float) -> str | None:
    """The plan must be at most ``max_age_hours`` old."""
    age_hours = (now - created_at).total_seconds() / 3600
    if age_hours > max_age_hours:
        return f"plan_age: plan is {age_hours:.1f} hours old, older than the allowed {max_age_hours:g} hours"
    return None


def check_plan_total(recommended_reporting: Iterable[Number], total: Number,
                     tolerance: float = TOTAL_TOLERANCE) -> str | None:
    """The recommended reporting budgets must sum to the plan total within ``tolerance``."""
    values = [float(v) for v in recommended_reporting]
    summed = math.fsum(values)
    if not (math.isfinite(summed) and is_finite_number(total)) or abs(summed - float(total)) > tolerance:
        return (
            f"plan_total: recommended budgets sum to {summed:.2f} over {len(values)} campaigns, "
            f"but the plan total is {_fmt(total)} (tolerance {tolerance})"
        )
    return None


def check_latest(plan_id: str, newer_plan_id: str | None) -> str | None:
    """No plan newer than this one may exist."""
    if newer_plan_id is not None:
        return f"latest_plan: plan {plan_id} is superseded by the newer plan {newer_plan_id}"
    return None


def check_currency_conversion(rec: Mapping[str, Any]) -> str | None:
    """The account-currency recommendation must convert, at the plan's own rate, to the reporting one."""
    values = [rec["current_daily_budget"], rec["current_daily_budget_reporting"],
              rec["recommended_daily_budget"], rec["recommended_daily_budget_reporting"]]
    if not all(is_finite_number(v) for v in values) or not float(values[0]) > 0:
        return None  # finite_numbers / positive_budget speak for these
    current, current_rep, recommended, recommended_rep = (float(v) for v in values)
    rate = current_rep / current
    # Account budgets carry whole cents: their rounding moves the reporting amount by half a cent x rate.
    if abs(recommended * rate - recommended_rep) > 0.01 + 0.005 * rate:
        where = f"{rec['platform']}/{rec['account_id']}/{rec['campaign_id']}"
        return (
            f"currency_conversion: recommendation {where} of {recommended:.2f} {rec.get('currency', '')} is "
            f"{recommended * rate:.2f} {rec.get('reporting_currency', '')} at the plan's rate {rate:.6g}, "
            f"not the {recommended_rep:.2f} the plan allocated"
        )
    return None


def plan_problems(
    plan: Mapping[str, Any],
    recommendations: list[Mapping[str, Any]],
    now: datetime,
    newer_plan_id: str | None,
    limits: Limits = Limits(),
) -> list[str]:
    """Every whole-plan rule the plan breaks; ``plan`` and ``recommendations`` are rows of the marts tables."""
    problems = [check_finite(plan, f"plan {plan['plan_id']}")]
    problems += [
        check_finite(rec, f"recommendation {rec['platform']}/{rec['account_id']}/{rec['campaign_id']}")
        for rec in recommendations
    ]
    problems += [
        check_solver(plan["solver_success"], plan["solver_message"]),
        check_plan_age(plan["created_at"], now, limits.max_plan_age_hours),
        check_plan_total((rec["recommended_daily_budget_reporting"] for rec in recommendations),
                         plan["total_daily_budget_reporting"], limits.total_tolerance),
        check_latest(plan["plan_id"], newer_plan_id),
        *(check_currency_conversion(rec) for rec in recommendations),
    ]
    return [p for p in problems if p]
