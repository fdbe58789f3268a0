"""Pandera models of the release tables and the metric catalog."""
