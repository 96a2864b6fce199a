"""Exceptions the optimizer raises beyond plain ``ValueError``."""

from __future__ import annotations


class InfeasibleAllocationError(ValueError):
    """The allocation constraints cannot all hold at once (e.g. lower bounds sum above the budget).

    A subclass of ``ValueError``, so callers that only catch bad input still catch it;
    the message names the conflicting constraint and, where there is one, the campaign.
    """
