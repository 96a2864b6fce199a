"""ga4 connector."""
