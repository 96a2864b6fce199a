"""meta_ads connector."""
