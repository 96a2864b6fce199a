"""A refresh that stopped before the marts (a missing platform day): the detector still sees yesterday's campaign
problems as open (judged as of the marts' last day), and the missing day from the raw side, as of today."""

from datetime import timedelta

from mbo_pipelines.defs.alerts import model
from mbo_pipelines.defs.alerts.detect import detect
from tests.alerts.test_detect import AS_OF, BIG, key, market, scope_of

YESTERDAY = AS_OF - timedelta(days=1)


def test_yesterdays_tracking_break_stays_open_when_todays_marts_were_not_built():
    m = market()
    m.scale(BIG, YESTERDAY, conversions=0, conversion_value=0)
    m.scale(BIG, AS_OF, conversions=0, conversion_value=0)
    inputs = m.inputs(AS_OF)
    inputs.daily = inputs.daily[inputs.daily["date_day"] < AS_OF]  # dbt did not run this morning
    inputs.platform_days = inputs.platform_days[~((inputs.platform_days["platform"] == "meta_ads")
                                                  & (inputs.platform_days["date_day"] == AS_OF))]
    alerts = {a.kind: a for a in detect(inputs)}
    assert sorted(alerts) == [model.MISSING_DAY, model.TRACKING_BREAK]
    broken = alerts[model.TRACKING_BREAK]
    assert scope_of(broken) == key(BIG) and broken.last_day == YESTERDAY
    assert scope_of(alerts[model.MISSING_DAY]) == ("meta_ads", None, None)
    assert alerts[model.MISSING_DAY].last_day == AS_OF
