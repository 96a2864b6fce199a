"""The daily partitions every extract asset shares: one per complete day since the sandbox epoch."""

import dagster as dg

# end_offset=0: the last partition is yesterday, the last complete day.
daily_partitions = dg.DailyPartitionsDefinition(start_date="2025-01-01", end_offset=0)
