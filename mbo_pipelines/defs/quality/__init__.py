"""Data quality: Great Expectations suites on every extract, quarantine, freshness, and the gates on plans and pushes."""
