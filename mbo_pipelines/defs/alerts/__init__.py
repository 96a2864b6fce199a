"""Anomalies and alerts: detect broken campaigns, tags and platform days in the marts, store, notify, explain."""
