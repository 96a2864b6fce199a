"""A sentence for each dbt data test, shown as its asset check's description in the Dagster UI.

Singular tests carry their own description (``dbt_project/tests/_singular_tests.yml``); the ~380 generic ones
(``not_null``, ``non_negative``, ...) have none, and their names are cut short in the UI. This says what each
checks, from the test's name and arguments in the manifest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_REF = re.compile(r"ref\(['\"]([^'\"]+)['\"]\)")


def _model(node: Mapping[str, Any]) -> str:
    attached = node.get("attached_node") or ""
    return attached.rsplit(".", 1)[-1] or "the model"


def describe_test(node: Mapping[str, Any]) -> str:
    """What the dbt test ``node`` (a manifest node) checks, in one sentence; its own description when it has one."""
    if node.get("description"):
        return node["description"]
    metadata = node.get("test_metadata") or {}
    name, kwargs = metadata.get("name", ""), metadata.get("kwargs") or {}
    model, column = _model(node), node.get("column_name") or kwargs.get("column_name")
    match name:
        case "not_null":
            return f"No row of {model} has a null {column}."
        case "unique":
            return f"No two rows of {model} have the same {column}."
        case "non_negative":
            return f"{column} is never negative in {model}."
        case "unique_combination_of_columns":
            return f"One row per ({', '.join(kwargs.get('combination_of_columns', []))}) in {model}."
        case "accepted_values":
            return f"{column} of {model} is one of: {', '.join(map(str, kwargs.get('values', [])))}."
        case "relationships":
            target = _REF.search(str(kwargs.get("to", "")))
            return (f"Every {column} of {model} exists as {kwargs.get('field', column)} in "
                    f"{target.group(1) if target else kwargs.get('to')}.")
        case "platform_name":
            return f"{column} of {model} is a platform name: lower case letters, digits and underscores."
        case "lower_case":
            return f"{column} of {model} is lower case."
        case "first_day_of_month":
            return f"{column} of {model} is always the first day of a month."
    arguments = ", ".join(f"{k}={v}" for k, v in kwargs.items() if k != "model")
    return f"dbt test {name or node.get('name')} on {model}" + (f" ({arguments})." if arguments else ".")
