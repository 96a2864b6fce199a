"""tiktok_ads connector."""
