"""MBO_CONVERSION_SOURCE: the optimizer fits on the platforms' conversion values or on those de-duplicated against
GA4, read from marts.opt_campaign_inputs; each plan records which (column, id, metadata, explanation), and a stored
plan is reproduced from SQL over that mart."""

from datetime import timedelta

import dagster as dg
import pandas as pd
import psycopg
import pytest
from optimize_helpers import UNMATCHED_SUFFIX, plan_metadata, synthetic_marts, with_attribution, write_synthetic_marts
from psycopg.rows import dict_row

from mbo_pipelines import settings
from mbo_pipelines.defs.explain.deterministic import conversion_source_sentence
from mbo_pipelines.defs.explain.facts import PlanFacts, plan_payload
from mbo_pipelines.defs.optimize.assets import budget_recommendations
from mbo_pipelines.defs.optimize.planning import plan_id_for, plan_inputs_fingerprint
from mbo_pipelines.resources import MboResource
from tests.fakes.fake_anthropic import FakeAnthropic

HISTORY_DAYS = 30  # of 45 synthetic days: the plan's window is a strict part of the mart
API_KEY = "sk-ant-conversion-source"
VALUE_COLUMNS = {"platform": "platform_conversion_value_reporting", "deduplicated": "dedup_conversion_value_reporting"}
PLAN_COLUMNS = ("plan_id, conversion_source, explanation, explanation_source, history_start, history_end, "
                "reporting_currency, total_daily_budget_reporting, target_marginal_roas, "
                "expected_value_current_reporting, expected_value_recommended_reporting")


# --- the setting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    (None, "platform"), ("", "platform"), ("  ", "platform"), ("platform", "platform"),
    ("Deduplicated ", "deduplicated"), ("PLATFORM", "platform"),
])
def test_the_setting_defaults_to_platform_and_ignores_case(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("MBO_CONVERSION_SOURCE", raising=False)
    else:
        monkeypatch.setenv("MBO_CONVERSION_SOURCE", raw)
    assert settings.conversion_source() == expected


@pytest.mark.parametrize("raw", ["ga4", "dedup", "platforms"])
def test_any_other_value_is_refused_naming_the_variable_and_the_choices(monkeypatch, raw):
    monkeypatch.setenv("MBO_CONVERSION_SOURCE", raw)
    with pytest.raises(ValueError, match=rf"MBO_CONVERSION_SOURCE must be 'platform' or 'deduplicated', got '{raw}'"):
        settings.conversion_source()


# --- the sentence and the prompt facts ------------------------------------------------------------


def _facts(source, share=None) -> PlanFacts:
    return PlanFacts(reporting_currency="USD", total_daily_budget_reporting=100.0,
                     expected_value_current_reporting=200.0, expected_value_recommended_reporting=210.0,
                     optimality_gap=None, solver_message="ok", conversion_source=source,
                     ga4_unmatched_spend_share=share)


def test_the_sentence_names_the_measure_and_the_unmatched_share():
    assert conversion_source_sentence(_facts("platform")) == (
        "Conversion values: as the platforms report them (MBO_CONVERSION_SOURCE=platform).")
    assert conversion_source_sentence(_facts("deduplicated", 0.12345)) == (
        "Conversion values: de-duplicated against GA4 (marts.fct_campaign_attribution, "
        "MBO_CONVERSION_SOURCE=deduplicated); campaigns GA4 could not match (12.3% of the history's spend) keep "
        "their platform numbers.")
    assert conversion_source_sentence(_facts(None)) == ""
    payload = plan_payload(_facts("deduplicated", 0.12345))
    assert (payload["conversion_source"], payload["ga4_unmatched_spend_pct"]) == ("deduplicated", 12.35)


# --- the asset on synthetic marts -----------------------------------------------------------------


@pytest.fixture(scope="module")
def marts():
    daily, campaigns = synthetic_marts(days=45, seed=7)
    return with_attribution(daily), campaigns


@pytest.fixture(scope="module")
def database(new_database, marts):
    url = new_database("conversion_source")
    write_synthetic_marts(url, *marts)
    return url


@pytest.fixture(scope="module")
def expected_unmatched_pct(marts) -> float:
    """The unmatched campaigns' share of the plan window's spend, in percent, from the frame the mart was made of."""
    daily, _ = marts
    last = max(daily["date_day"])
    window = daily[daily["date_day"] > last - timedelta(days=HISTORY_DAYS)]
    unmatched = window["campaign_id"].str.endswith(UNMATCHED_SUFFIX)
    assert unmatched.any() and not unmatched.all()
    return round(100 * window.loc[unmatched, "spend_reporting"].sum() / window["spend_reporting"].sum(), 2)


def _materialize(url: str, source: str | None, **env_vars) -> dg.ExecuteInProcessResult:
    with pytest.MonkeyPatch.context() as env:
        for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "MBO_CLAUDE_MODEL", "MBO_MAX_BUDGET_CHANGE",
                     "MBO_CONVERSION_SOURCE", "MBO_TARGET_MARGINAL_ROAS", "MBO_REPORTING_CURRENCY"):
            env.delenv(name, raising=False)
        env.setenv("MBO_HISTORY_DAYS", str(HISTORY_DAYS))
        if source is not None:
            env.setenv("MBO_CONVERSION_SOURCE", source)
        for name, value in env_vars.items():
            env.setenv(name, value)
        return dg.materialize([budget_recommendations], resources={"mbo": MboResource(database_url=url)},
                              raise_on_error=False)


def _metadata(result: dg.ExecuteInProcessResult) -> dict:
    assert result.success
    return {key: value.value for key, value in plan_metadata(result).items()}


@pytest.fixture(scope="module")
def runs(database, expected_unmatched_pct):
    """A plan on the platforms' values (no setting: the default), one on de-duplicated values (Claude on a fake
    server, quoting the unmatched share), then the de-duplicated one again on unchanged marts."""
    platform = _metadata(_materialize(database, None))
    with FakeAnthropic(api_key=API_KEY) as claude:
        claude.reply(f"Budget follows de-duplicated conversion values; {expected_unmatched_pct:.1f}% of the spend "
                     "is on campaigns GA4 could not match, which keep their platform numbers.")
        deduplicated = _metadata(_materialize(database, "Deduplicated", ANTHROPIC_API_KEY=API_KEY,
                                              ANTHROPIC_BASE_URL=claude.url, MBO_CLAUDE_MODEL="claude-test-model"))
        prompts = [request.system for request in claude.requests]
    again = _metadata(_materialize(database, "deduplicated"))
    with psycopg.connect(database) as conn, conn.cursor(row_factory=dict_row) as cur:
        stored = {row["plan_id"]: row for row in cur.execute(f"select {PLAN_COLUMNS} from marts.budget_plans")}
    return {"platform": platform, "deduplicated": deduplicated, "again": again, "prompts": prompts,
            "stored": stored}


def test_each_plan_records_its_source_under_its_own_id(runs):
    platform, deduplicated, stored = runs["platform"], runs["deduplicated"], runs["stored"]
    assert platform["plan_id"] != deduplicated["plan_id"]
    assert {plan_id: row["conversion_source"] for plan_id, row in stored.items()} == {
        platform["plan_id"]: "platform", deduplicated["plan_id"]: "deduplicated"}
    assert (platform["conversion_source"], deduplicated["conversion_source"]) == ("platform", "deduplicated")
    # Same history window and budgets: only the measure differs.
    assert platform["history"] == deduplicated["history"]
    assert platform["total_daily_budget"] == deduplicated["total_daily_budget"]


def test_the_deduplicated_plan_expects_less_value(runs):
    """The de-duplicated values are 55-80% of the platforms' on matched campaigns, equal on unmatched ones."""
    platform, deduplicated = runs["platform"], runs["deduplicated"]
    ratio = deduplicated["expected_value_current"] / platform["expected_value_current"]
    assert 0.5 < ratio < 0.85


def test_the_explanation_and_metadata_say_which_measure(runs, expected_unmatched_pct):
    platform, deduplicated, stored = runs["platform"], runs["deduplicated"], runs["stored"]
    platform_sentence = "Conversion values: as the platforms report them (MBO_CONVERSION_SOURCE=platform)."
    dedup_sentence = (
        "Conversion values: de-duplicated against GA4 (marts.fct_campaign_attribution, "
        f"MBO_CONVERSION_SOURCE=deduplicated); campaigns GA4 could not match "
        f"({f'{expected_unmatched_pct:.1f}'.removesuffix('.0')}% of the history's spend) keep their platform numbers."
    )
    for metadata, sentence in ((platform, platform_sentence), (deduplicated, dedup_sentence)):
        text = stored[metadata["plan_id"]]["explanation"]
        assert text == metadata["explanation"]
        assert text.startswith(f"{metadata['pacing']} {sentence} ")  # after the pacing, before the solver's story
    assert "de-duplicated" not in stored[platform["plan_id"]]["explanation"]
    assert deduplicated["ga4_unmatched_spend_share"] == pytest.approx(expected_unmatched_pct / 100, abs=1e-4)


def test_claude_is_told_the_source_and_may_quote_the_unmatched_share(runs, expected_unmatched_pct):
    [prompt] = runs["prompts"]
    assert '"conversion_source": "deduplicated"' in prompt
    assert f'"ga4_unmatched_spend_pct": {expected_unmatched_pct}' in prompt
    deduplicated = runs["deduplicated"]
    assert deduplicated["explanation_source"] == "claude"  # its quoted share passed the grounding check
    assert deduplicated["explanation"].endswith("which keep their platform numbers.")


def test_unchanged_inputs_show_the_stored_plans_source(runs):
    again, deduplicated = runs["again"], runs["deduplicated"]
    assert again["inputs_unchanged"] is True and again["plan_id"] == deduplicated["plan_id"]
    assert again["conversion_source"] == "deduplicated"
    assert "conversion source deduplicated" in again["status"]
    assert len(runs["stored"]) == 2


def _query(conn, query: str, params=()) -> pd.DataFrame:
    cursor = conn.execute(query, params)
    return pd.DataFrame(cursor.fetchall(), columns=[d.name for d in cursor.description])


@pytest.mark.parametrize("source", ["platform", "deduplicated"])
def test_a_stored_plan_is_reproduced_from_sql_over_opt_campaign_inputs(runs, database, source):
    metadata = runs[source]
    plan = runs["stored"][metadata["plan_id"]]
    assert plan["conversion_source"] == source
    with psycopg.connect(database) as conn:
        daily = _query(
            conn,
            f"select date_day, platform, account_id, campaign_id, spend_reporting, {VALUE_COLUMNS[source]} "
            "as conversion_value_reporting from marts.opt_campaign_inputs where date_day between %s and %s",
            (plan["history_start"], plan["history_end"]),
        )
        campaigns = _query(conn, "select platform, account_id, campaign_id, campaign_name, currency, daily_budget, "
                                 "daily_budget_reporting from marts.dim_campaign where status = 'active'")
    arguments = (daily, campaigns, plan["reporting_currency"], settings.DEFAULT_MAX_BUDGET_CHANGE,
                 plan["total_daily_budget_reporting"], plan["target_marginal_roas"])
    assert plan_inputs_fingerprint(*arguments, source) == metadata["inputs_fingerprint"]
    assert plan_id_for(*arguments, source) == plan["plan_id"]
    other = "deduplicated" if source == "platform" else "platform"
    assert plan_id_for(*arguments, other) != plan["plan_id"]  # the same numbers under the other name: another plan


def test_a_bad_setting_fails_the_asset_with_the_message_and_writes_nothing(runs, database):
    result = _materialize(database, "ga4")
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert "MBO_CONVERSION_SOURCE must be 'platform' or 'deduplicated', got 'ga4'" in failure.step_failure_data.error.message
    with psycopg.connect(database) as conn:
        assert conn.execute("select count(*) from marts.budget_plans").fetchone()[0] == len(runs["stored"])


def test_without_opt_campaign_inputs_the_asset_says_to_build_the_marts(new_database):
    result = _materialize(new_database("conversion_source_no_marts"), None)
    assert not result.success
    [failure] = result.get_step_failure_events()
    message = failure.step_failure_data.error.message
    assert "marts.opt_campaign_inputs does not exist" in message and "mbo refresh" in message
