"""The sensor ``alert_notifications``: posts each new open alert once to ``MBO_ALERT_WEBHOOK_URL``.

An alert is marked notified only when the webhook took it, so a failed post is
tried again on the next tick; a continuing alert was notified when it was new
and is not posted again.
"""


import dagster as dg

from mbo_pipelines import warehouse
from mbo_pipelines.defs.alerts import store
from mbo_pipelines.defs.alerts.webhook import post_alerts, webhook_url
from mbo_pipelines.resources import MboResource


def notify_new_alerts(url: str, database_url: str, log=None) -> tuple[int, dict[str, str]]:
    """Post the open alerts not notified yet; returns how many were delivered and why others failed."""
    with warehouse.connect(database_url) as conn:
        pending = store.unnotified(conn)
    if not pending:
        return 0, {}
    result = post_alerts(url, [alert for alert, _ in pending],
                         {alert.alert_id: text for alert, text in pending if text})
    with warehouse.connect(database_url) as conn:
        store.mark_notified(conn, list(result.delivered))
    for alert_id, reason in result.failed.items():
        if log is not None:
            log.warning(f"alert {alert_id} not posted: {reason}")
    return len(result.delivered), dict(result.failed)


@dg.sensor(
    name="alert_notifications",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts each new alert of marts.alerts once to MBO_ALERT_WEBHOOK_URL (Slack-compatible JSON), with "
                "retries; skips when the variable is not set.",
)
def alert_notifications(context: dg.SensorEvaluationContext, mbo: MboResource):
    """One tick: post what is new, say what happened."""
    url = webhook_url()
    if url is None:
        return dg.SkipReason("MBO_ALERT_WEBHOOK_URL is not set: open alerts are in marts.alerts and `mbo alerts`")
    delivered, failed = notify_new_alerts(url, mbo.url(), context.log)
    if failed:
        return dg.SkipReason(f"posted {delivered} new alert(s); {len(failed)} failed and will be tried again: "
                             + "; ".join(f"{k}: {v}" for k, v in list(failed.items())[:3]))
    return dg.SkipReason(f"posted {delivered} new alert(s)" if delivered else "no new alert")
