"""Dangjian Metrics: extract, validate and publish the numbers of Chinese party-building texts.

This package holds the pure logic (no Prefect import): decoding, numerals, extraction, meaning
and publishing. The flows in ``flows/`` only orchestrate it.
"""
from importlib.metadata import PackageNotFoundError, version

from dangjian import native

try:
    __version__ = version("dangjian-metrics")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

#: Version of the extraction rules; bump it whenever a rule changes what rows come out.
EXTRACTOR_VERSION = "1.1.0"

#: How the rule modules run: ``compiled``, ``source``, ``forced``, ``stale`` or ``broken`` (see
#: :mod:`dangjian.native`); decided here, before any of them is imported.
RULES_RUN = native.choose()
