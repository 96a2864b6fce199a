"""Daily FX rates into ``raw.fx_rates``: the ECB CSV reader (``ecb``) and the ``raw/fx_rates`` asset (``asset``)."""

from mbo_pipelines.defs.ingest.fx_rates.asset import fx_rates

__all__ = ["fx_rates"]
