"""make mutants: plausible bugs the test suite must catch (see __main__.py)."""
