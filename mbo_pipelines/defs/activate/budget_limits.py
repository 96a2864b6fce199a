"""Per-account limits on one budget change: clip it into bounds, or refuse it, and say which limit and by how much.

Pure functions on Decimals in the account's currency. Each rule returns a
``LimitResult``: the (possibly clipped) amount with a note, or a refusal. A
note or refusal always starts with ``"<rule>: "`` and gives the numbers, such as
``"max_daily_budget: clipped 612.00 -> 500.00 (by -112.00)"``.

``apply_limits`` runs the rules in this order and stops at the first refusal:

1. ``cooldown``: a campaign whose budget MBO changed less than ``cooldown_hours`` ago is
   refused, except a change back to the budget in force before that change (an undo), judged
   on the requested amount before any clipping;
2. ``min_daily_budget`` / ``max_daily_budget``: the account's bounds;
3. ``platform_minimum``: the platform's own minimum daily budget (``platform_minimum``);
4. ``currency_unit``: a whole number of the currency's minor units, rounded toward the budget
   in force so rounding never enlarges a change;
5. ``daily_cap``: an increase that would take the account's daily budgets above the cap is
   clipped to the room left; decreases always pass.

Clipping only ever moves the amount toward the budget in force, or into the bounds: it never
reverses a change and never makes it larger than requested, with one exception: a budget in force
below the platform's minimum, asked to rise but not as far as the minimum, is raised to the
minimum when that is within ``max_change``. A change clipped all the way back to the budget
in force is refused, with the reason of the rule that clipped it. The max relative change itself
is ``guardrails.check_max_change``'s job; the push runs both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from mbo_pipelines.currencies import round_to_step, smallest_step
from mbo_pipelines.defs.activate.account_settings import AccountSettings

# --- the platforms' minimum daily budgets ---------------------------------------------------------------
# Defaults from the platforms' published rules, per account currency. They are floors an account can
# only raise (min_daily_budget in the accounts file), never lower. Where a platform's exact value in a
# currency is not published or not known to us, the value is a conservative (higher) guess, marked "~".
# A currency not listed falls back to the smallest step, and the platform's own error is the backstop:
# set min_daily_budget for such accounts.
#
# Google Ads: no general minimum daily budget beyond one unit of the currency's smallest step
# (some campaign types have their own minimum, reported as BudgetPerDayMinimumErrorDetails).
#
# Meta: the minimum is per ad set and depends on the optimisation goal (Graph API
# /act_<id>/minimum_budgets). These are the impression-optimised floors (about 1 USD); ad sets
# optimised for clicks or conversions need about 5x that, and a campaign budget (CBO) needs the
# minimum of every ad set under it.
META_MINIMUMS: dict[str, Decimal] = {
    "USD": Decimal("1"), "EUR": Decimal("1"), "GBP": Decimal("1"), "CHF": Decimal("1"),
    "CAD": Decimal("2"), "AUD": Decimal("2"), "NZD": Decimal("2"),  # ~
    "PLN": Decimal("5"), "CZK": Decimal("25"),  # PLN from Meta's table; CZK ~
    "SEK": Decimal("10"), "NOK": Decimal("10"), "DKK": Decimal("10"),  # ~
    "JPY": Decimal("150"), "KRW": Decimal("1500"), "HUF": Decimal("400"),  # ~ (Meta's JPY floor is about 100)
    "INR": Decimal("100"), "BRL": Decimal("6"), "MXN": Decimal("20"),  # ~
}
# TikTok: a campaign daily budget must be at least 50 USD or the equivalent (20 USD per ad group).
# Outside USD these are 50 USD converted generously (~ all): a floor slightly too high only keeps a
# budget a little higher than asked; one too low would be refused by the platform.
TIKTOK_MINIMUMS: dict[str, Decimal] = {
    "USD": Decimal("50"), "EUR": Decimal("50"), "GBP": Decimal("50"), "CHF": Decimal("50"),
    "CAD": Decimal("75"), "AUD": Decimal("80"), "NZD": Decimal("90"),
    "PLN": Decimal("250"), "CZK": Decimal("1250"),
    "SEK": Decimal("550"), "NOK": Decimal("550"), "DKK": Decimal("350"),
    "JPY": Decimal("8000"), "KRW": Decimal("70000"), "HUF": Decimal("20000"),
    "INR": Decimal("4500"), "BRL": Decimal("300"), "MXN": Decimal("1000"),
}
PLATFORM_MINIMUMS: dict[str, dict[str, Decimal]] = {"meta_ads": META_MINIMUMS, "tiktok_ads": TIKTOK_MINIMUMS}


def platform_minimum(platform: str, currency: str) -> Decimal:
    """The platform's smallest daily budget in ``currency`` (see the tables above), at least one smallest step,
    a whole number of minor units."""
    step = smallest_step(currency)
    value = PLATFORM_MINIMUMS.get(platform, {}).get(currency.strip().upper(), step)
    return max(value, step).quantize(step, rounding=ROUND_CEILING)


# --- results --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LimitResult:
    """The amount to send (None when refused), what the limits changed, and why the change is refused (or None)."""

    amount: Decimal | None
    notes: list[str] = field(default_factory=list)
    refusal: str | None = None

    @property
    def refused(self) -> bool:
        """True when the change must not be sent."""
        return self.refusal is not None


@dataclass(frozen=True)
class LastChange:
    """The last change MBO applied to a campaign's budget: when, and the budget in force before it."""

    applied_at: datetime
    budget_before: Decimal


def _money(value: Decimal) -> str:
    """Two decimals, or more when the amount has them (so 5.005 never shows as 5.01)."""
    return f"{value:.2f}" if value == value.quantize(Decimal("0.01")) else f"{value.normalize():f}"


def _by(delta: Decimal) -> str:
    return f"+{_money(delta)}" if delta >= 0 else f"-{_money(-delta)}"


def _clipped(rule: str, requested: Decimal, amount: Decimal, why: str = "") -> LimitResult:
    note = f"{rule}: clipped {_money(requested)} -> {_money(amount)} (by {_by(amount - requested)})"
    return LimitResult(amount, [note + (f"; {why}" if why else "")])


def _refused(reason: str) -> LimitResult:
    return LimitResult(None, [], reason)


def _between(value: Decimal, a: Decimal, b: Decimal) -> Decimal:
    return min(max(value, min(a, b)), max(a, b))


# --- the rules ------------------------------------------------------------------------------------------

def check_cooldown(requested: Decimal, last_change: LastChange | None, now: datetime, cooldown_hours: float,
                   currency: str) -> LimitResult:
    """Refuse a change within ``cooldown_hours`` of the last one applied, unless it restores the budget in force
    before that change (to the currency's step)."""
    if not cooldown_hours or last_change is None:
        return LimitResult(requested)
    hours = (now - last_change.applied_at) / timedelta(hours=1)
    if hours >= cooldown_hours:
        return LimitResult(requested)
    if round_to_step(requested, currency) == round_to_step(last_change.budget_before, currency):
        return LimitResult(requested, [
            f"cooldown: allowed within the cooldown as an undo: {_money(requested)} is the budget in force before "
            f"the change {max(hours, 0):.1f} hours ago"])
    again = last_change.applied_at + timedelta(hours=cooldown_hours)
    return _refused(f"cooldown: the budget changed {max(hours, 0):.1f} hours ago; the cooldown is {cooldown_hours:g} "
                    f"hours (next change from {again.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC)")


def clip_to_bounds(current: Decimal, requested: Decimal, minimum: Decimal | None,
                   maximum: Decimal | None) -> LimitResult:
    """Clip into [minimum, maximum]; a budget in force outside them only moves toward them (never further out)."""
    if maximum is not None and requested > maximum:
        rule, bound, side = "max_daily_budget", maximum, "above the maximum"
    elif minimum is not None and requested < minimum:
        rule, bound, side = "min_daily_budget", minimum, "below the minimum"
    else:
        return LimitResult(requested)
    amount = _between(bound, current, requested)
    if amount == current:
        return _refused(f"{rule}: {_money(requested)} is {side} {_money(bound)}, and the budget in force "
                        f"({_money(current)}) is already at or past it: no change is left")
    return _clipped(rule, requested, amount)


def check_platform_minimum(current: Decimal, requested: Decimal, floor: Decimal, max_change: float,
                           maximum: Decimal | None = None, currency: str = "") -> LimitResult:
    """Raise a budget under the platform's minimum ``floor`` to it; refuse when that reverses the change, takes it
    beyond ``max_change`` of the budget in force, or above the account's ``maximum``."""
    if requested >= floor:
        return LimitResult(requested)
    minimum = f"{_money(floor)}{' ' + currency if currency else ''}"
    why = f"the platform's minimum daily budget is {minimum}"
    below = f"platform_minimum: {_money(requested)} is below the platform's minimum daily budget, {minimum}"
    if maximum is not None and floor > maximum:
        return _refused(f"platform_minimum: {why}, above this account's max_daily_budget {_money(maximum)}")
    if current == floor:
        return _refused(f"{below}, and the budget in force is already at it: no change is left")
    if current > floor:
        return _clipped("platform_minimum", requested, floor, why)
    if requested <= current:
        return _refused(f"{below}; the budget in force ({_money(current)}) is below it too, and raising it would "
                        f"reverse the change")
    # Allow half a cent of rounding on top, as guardrails.check_max_change does.
    if floor - current > Decimal(str(max_change)) * current + Decimal("0.005"):
        change = f"{(floor / current - 1):+.1%}" if current > 0 else "an unbounded"
        return _refused(f"{below}; raising {_money(current)} to it is a {change} change, "
                        f"beyond the allowed ±{max_change:.0%}")
    return _clipped("platform_minimum", requested, floor, why)


def round_to_unit(current: Decimal, requested: Decimal, currency: str) -> LimitResult:
    """Round to a whole number of the currency's minor units, toward the budget in force; refuse when nothing is
    left of the change."""
    step = smallest_step(currency)
    rounded = requested.quantize(step, rounding=ROUND_FLOOR if requested > current else ROUND_CEILING)
    if (requested > current and rounded <= current) or (requested < current and rounded >= current):
        return _refused(f"currency_unit: {_money(current)} -> {_money(requested)} is less than one step of "
                        f"{step} {currency}: no change is left")
    if rounded == requested:
        return LimitResult(rounded)
    return _clipped("currency_unit", requested, rounded, f"rounded to {step} {currency}, toward the budget in force")


def clip_to_cap(current: Decimal, requested: Decimal, cap: Decimal | None, others_total: Decimal,
                currency: str, floor: Decimal | None = None) -> LimitResult:
    """Clip an increase so the account's daily budgets (``others_total`` plus this one) stay within ``cap``;
    refuse when there is no room (or only room below the platform's ``floor``). Decreases always pass."""
    if cap is None or requested <= current or others_total + requested <= cap:
        return LimitResult(requested)
    room = (cap - others_total).quantize(smallest_step(currency), rounding=ROUND_FLOOR)
    totals = (f"the account's other campaigns total {_money(others_total)} a day, this one {_money(current)}, "
              f"and the cap is {_money(cap)}")
    if room <= current:
        return _refused(f"daily_cap: no room for an increase to {_money(requested)}: {totals}")
    if floor is not None and room < floor:
        return _refused(f"daily_cap: the room left, {_money(room)}, is below the platform's minimum {_money(floor)}: "
                        f"{totals}")
    return _clipped("daily_cap", requested, room, totals)


# --- all of them ----------------------------------------------------------------------------------------

def apply_limits(
    *,
    platform: str,
    currency: str,
    current: Decimal,
    requested: Decimal,
    settings: AccountSettings,
    other_budgets: Mapping[str, Decimal | None] | None = None,
    campaign_id: str | None = None,
    last_change: LastChange | None = None,
    now: datetime | None = None,
    platform_rules: bool = True,
) -> LimitResult:
    """Every per-account limit on one change, in the order of the module docstring.

    ``current``: the budget in force now (read from the platform); ``requested``: the new budget the plan (after
    the max_change guardrail) asks for; ``other_budgets``: the budgets in force now of the account's other
    campaigns by campaign id (``campaign_id``'s own entry and None, a campaign without a daily budget, are
    left out); ``last_change``: the last change MBO applied to this campaign; ``now``: defaults to the clock;
    ``platform_rules``: False for a simulated platform (the sandbox), which has no minimum budget.
    """
    if not (isinstance(current, Decimal) and current.is_finite() and current >= 0):
        return _refused(f"current_budget: the budget in force {current} is not an amount of at least 0")
    if not (isinstance(requested, Decimal) and requested.is_finite() and requested > 0):
        return _refused(f"positive_budget: new daily budget {requested} is not a finite amount greater than 0")
    if requested == current:
        return LimitResult(requested)
    now = now if now is not None else datetime.now(timezone.utc)
    # The sandbox simulates the platforms without their minimums: there one smallest step is the floor.
    floor = platform_minimum(platform, currency) if platform_rules else platform_minimum("", currency)
    # Only a daily cap needs the account's other budgets: summing them for every change of a big account
    # would make a push quadratic.
    others = Decimal(0) if settings.daily_cap is None else sum(
        (v for k, v in (other_budgets or {}).items() if v is not None and k != campaign_id), Decimal(0))
    steps = (
        lambda amount: check_cooldown(amount, last_change, now, settings.cooldown_hours, currency),
        lambda amount: clip_to_bounds(current, amount, settings.min_daily_budget, settings.max_daily_budget),
        lambda amount: check_platform_minimum(current, amount, floor, settings.max_change, settings.max_daily_budget,
                                                currency),
        lambda amount: round_to_unit(current, amount, currency),
        lambda amount: clip_to_cap(current, amount, settings.daily_cap, others, currency, floor),
    )
    amount, notes = requested, []
    for step in steps:
        result = step(amount)
        if result.refused:
            return LimitResult(None, notes, result.refusal)
        amount = result.amount
        notes += result.notes
    return LimitResult(amount, notes)
