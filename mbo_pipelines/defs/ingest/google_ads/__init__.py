"""google_ads connector."""
