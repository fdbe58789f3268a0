"""Prefect flows and the ``dangjian`` command line: orchestration only."""
