"""The daily partitions every extract asset shares: one per complete day from the first day MBO loads
(``mbo_pipelines.partition_start``: MBO_START_DATE, else the first day loaded, else MBO_HISTORY_DAYS ago)."""

import dagster as dg

from mbo_pipelines.partition_start import partitions_start

# end_offset=0: the last partition is yesterday, the last complete day.
daily_partitions = dg.DailyPartitionsDefinition(start_date=partitions_start().isoformat(), end_offset=0)
