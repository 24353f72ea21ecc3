"""The report: the palmarès as a self-contained HTML page, or Markdown with PNG charts."""

from __future__ import annotations

from footfall.report._write import write_report

__all__ = ["write_report"]
