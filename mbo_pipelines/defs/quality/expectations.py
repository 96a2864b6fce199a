"""The Great Expectations suites built from ``rules``, and the ephemeral GX context that runs them.

Four suites per table: ``rows`` (row-level: what gets a row quarantined),
``schema`` (the expected columns), ``accounts`` (one currency per account and
day) and ``volume`` (each day against the trailing same-weekday median). Every
expectation carries the check it belongs to and a plain-language reason in its
``meta``, which is what the check metadata, the quarantine and the errors show.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from typing import Any

import pandas as pd

from mbo_pipelines.currencies import ISO_4217_CODES
from mbo_pipelines.defs.quality.rules import (
    FORBIDDEN_TEXT,
    MAX_TEXT_LENGTH,
    VALID_ROWS,
    VALID_TABLE,
    VOLUME,
    TableRules,
)

#: Failing values a result keeps as a sample.
SAMPLE_SIZE = 5


@functools.cache
def _gx():
    # GX sends usage statistics unless told not to; MBO never talks to the internet on its own.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


@functools.cache
def _batches():
    """One GX ephemeral context, its pandas data source and one batch definition per frame kind."""
    gx = _gx()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    source = context.data_sources.add_pandas("mbo_quality")
    return {kind: source.add_dataframe_asset(kind).add_batch_definition_whole_dataframe(kind)
            for kind in ("rows", "schema", "accounts", "volume")}


@functools.cache
def batch_definition(kind: str):
    """The whole-dataframe batch definition ``kind`` of the shared context: one of the four above, or another
    kind of frame (reference data), added on first use."""
    batches = _batches()
    if kind in batches:
        return batches[kind]
    source = next(iter(batches.values())).data_asset.datasource
    return source.add_dataframe_asset(kind).add_batch_definition_whole_dataframe(kind)


def expectation(name: str, check: str, reason: str, **kwargs: Any):
    """The GX expectation class ``name`` (``ExpectColumnValuesToBeUnique``…) with its check and plain-language
    reason in ``meta``, as every suite here carries them."""
    expectations = _gx().expectations
    return getattr(expectations, name)(meta={"check": check, "reason": reason}, **kwargs)


def row_expectations(rules: TableRules, window_days: Iterable[str] | None) -> list:
    """Row-level expectations: a row failing any of them is quarantined."""
    out = []
    key = set(rules.table.key)
    for column in rules.table.required:
        what = "a key column" if column in key else "required"
        out.append(expectation("ExpectColumnValuesToNotBeNull", VALID_ROWS,
                               f"{column} is missing or not a valid value ({what})", column=column))
    for column in [*rules.count_columns, *rules.amount_columns]:
        bound = rules.upper_bound(column)
        if column in rules.signed_columns:
            out.append(expectation("ExpectColumnValuesToBeBetween", VALID_ROWS,
                                   f"{column} is infinite or absurdly large (beyond ±{bound:.0e})",
                                   column=column, min_value=-bound, max_value=bound))
            continue
        out.append(expectation("ExpectColumnValuesToBeBetween", VALID_ROWS,
                               f"{column} is negative, infinite or absurdly large (above {bound:.0e})",
                               column=column, min_value=0, max_value=bound))
    for column in rules.count_columns:
        out.append(expectation("ExpectColumnValuesToBeInTypeList", VALID_ROWS,
                               f"{column} is not a whole number", column=column, type_list=["int"]))
    for column in rules.list_columns:
        out.append(expectation("ExpectColumnValuesToBeBetween", VALID_ROWS,
                               f"{column} has a negative value", column=column, min_value=0))
    for column in rules.text_columns:
        out.append(expectation("ExpectColumnValuesToNotMatchRegex", VALID_ROWS,
                               f"{column} has control characters or is not valid UTF-8", column=column,
                               regex=FORBIDDEN_TEXT))
        out.append(expectation("ExpectColumnValueLengthsToBeBetween", VALID_ROWS,
                               f"{column} is empty or longer than {MAX_TEXT_LENGTH} characters", column=column,
                               min_value=1, max_value=MAX_TEXT_LENGTH))
    out.append(expectation("ExpectColumnValuesToBeInSet", VALID_ROWS,
                           f"{rules.currency_column} is not an ISO 4217 currency code", column=rules.currency_column,
                           value_set=sorted(ISO_4217_CODES)))
    for smaller, larger in rules.bounded_by:
        out.append(_not_below(VALID_ROWS, f"{smaller} exceeds {larger}", larger, smaller))
    if rules.table.date_column and window_days is not None:
        out.append(expectation("ExpectColumnValuesToBeInSet", VALID_ROWS,
                               f"{rules.table.date_column} is outside the partitions extracted",
                               column=rules.table.date_column, value_set=sorted(window_days)))
    out.append(expectation("ExpectCompoundColumnsToBeUnique", VALID_ROWS,
                           f"another row has the same key ({', '.join(rules.table.key)}) with different values",
                           column_list=list(rules.table.key)))
    return out


def schema_expectations(rules: TableRules) -> list:
    """The batch carries exactly the table's columns."""
    return [expectation("ExpectTableColumnsToMatchSet", VALID_TABLE,
                        "the columns differ from the raw table's", column_set=rules.table.column_names, exact_match=True)]


def account_expectations() -> list:
    """One currency per account (across the batch's days)."""
    return [expectation("ExpectColumnValuesToBeBetween", VALID_TABLE,
                        "an account reports more than one currency", column="currencies", max_value=1)]


def _not_below(check: str, reason: str, larger: str, smaller: str):
    """Row by row, ``larger`` ≥ ``smaller`` (rows missing either value are not judged)."""
    return expectation("ExpectColumnPairValuesAToBeGreaterThanB", check, reason, column_A=larger, column_B=smaller,
                       or_equal=True, ignore_row_if="either_value_is_missing")


def volume_expectations() -> list:
    """Each day's rows and volume inside the band; no account that spent the day before missing."""
    band = "the trailing same-weekday median"
    return [
        _not_below(VOLUME, f"fewer rows than the band below {band} allows", "rows", "rows_low"),
        _not_below(VOLUME, f"more rows than the band above {band} allows", "rows_high", "rows"),
        _not_below(VOLUME, f"volume collapsed below the band of {band}", "volume", "volume_low"),
        _not_below(VOLUME, f"volume jumped above the band of {band}", "volume_high", "volume"),
        expectation("ExpectColumnValuesToBeBetween", VOLUME, "an account that spent the day before sent no rows",
                    column="accounts_gone", max_value=0),
    ]


def run(kind: str, frame: pd.DataFrame, expectations: list) -> list:
    """Validate ``frame`` against ``expectations``; the GX results, one per expectation."""
    gx = _gx()
    suite = gx.ExpectationSuite(name=f"mbo_{kind}", expectations=expectations)
    batch = batch_definition(kind).get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format={"result_format": "COMPLETE",
                                                  "partial_unexpected_count": SAMPLE_SIZE})
    return list(result.results)
