"""csv_import connector."""
