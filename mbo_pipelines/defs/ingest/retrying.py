"""Retries for platform calls: exponential backoff with jitter (tenacity), honouring the platform's own signals.

Each connector says which failures are worth another try through a
``classify`` function: it returns a ``Retry`` (optionally with the delay the
platform asked for, and the request id to quote) or None for a failure that
another try will not fix. After ``MBO_API_MAX_ATTEMPTS`` tries the call fails
with a ``ConnectorError`` naming what was called, how often, the request id
and the last error, secrets masked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from mbo_pipelines.connectors import ConnectorError
from mbo_pipelines.redaction import redacted_error
from mbo_pipelines.settings import env_float, env_int

T = TypeVar("T")


@dataclass(frozen=True)
class Retry:
    """A failure worth another try: after at least ``delay`` seconds (the platform's hint), if given."""

    delay: float | None = None
    request_id: str | None = None
    reason: str = ""


def max_attempts() -> int:
    """Tries per platform call, the first included (``MBO_API_MAX_ATTEMPTS``, default 5)."""
    return env_int("MBO_API_MAX_ATTEMPTS", 5, minimum=1)


def backoff_seconds() -> tuple[float, float]:
    """First backoff and the longest wait, in seconds (``MBO_API_BACKOFF_SECONDS``, default 2, and
    ``MBO_API_MAX_BACKOFF_SECONDS``, default 60; a platform's own retry delay is capped by the latter too)."""
    base = env_float("MBO_API_BACKOFF_SECONDS", 2.0)
    cap = env_float("MBO_API_MAX_BACKOFF_SECONDS", 60.0)
    if base < 0 or cap < base:
        raise ValueError(f"need 0 <= MBO_API_BACKOFF_SECONDS ({base}) <= MBO_API_MAX_BACKOFF_SECONDS ({cap})")
    return base, cap


def call_with_retries(
    call: Callable[[], T],
    *,
    what: str,
    classify: Callable[[BaseException], Retry | None],
    log: Callable[[str], None] | None = None,
    attempts: int | None = None,
) -> T:
    """``call()``, tried again on failures ``classify`` calls retryable; ConnectorError when it gives up."""
    attempts = attempts or max_attempts()
    base, cap = backoff_seconds()
    backoff = tenacity.wait_exponential_jitter(multiplier=base, max=cap, jitter=base)
    decisions: dict[int, Retry | None] = {}

    def retryable(exc: BaseException) -> bool:
        decisions[id(exc)] = classify(exc)
        return decisions[id(exc)] is not None

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        decision = decisions.get(id(exc)) if exc else None
        hint = min(decision.delay, cap) if decision and decision.delay else 0.0
        return max(hint, backoff(state))

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if log and state.outcome:
            exc = state.outcome.exception()
            log(f"{what}: try {state.attempt_number} of {attempts} failed ({redacted_error(exc)[:300]}); "
                f"retrying in {state.next_action.sleep:.1f}s")

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts),
        wait=wait,
        retry=tenacity.retry_if_exception(retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(call)
    except ConnectorError:
        raise
    except Exception as exc:
        decision = decisions.get(id(exc))
        tries = f"after {attempts} tries" if decision is not None else "(not retryable)"
        request = f" (request id {decision.request_id})" if decision and decision.request_id else ""
        # from None: an SDK's exception chain can carry tokens; the message keeps what matters, redacted.
        raise ConnectorError(f"{what} failed {tries}{request}: {redacted_error(exc)}") from None
