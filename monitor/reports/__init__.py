"""HTML reports: one self-contained page per model run, a page per model, and an index.

Renderers take the result objects of :mod:`checks.result` (no database access); writers put
the pages under a reports directory that :mod:`monitor.reports.server` serves read-only::

    reports/
      index.html                                 every model, latest status, timelines
      <model>/index.html                         trends across windows, every report
      <model>/20260302T063000Z-run42.html        one run (report_relpath(run))
"""

from .assets import PAGE_CSP, PAGE_SCRIPT_HASH
from .history import prune_reports, render_index, render_model_page, write_index, write_model_page
from .run_report import model_slug, render_run_report, report_relpath, write_run_report

__all__ = [
    "PAGE_CSP",
    "PAGE_SCRIPT_HASH",
    "model_slug",
    "prune_reports",
    "render_index",
    "render_model_page",
    "render_run_report",
    "report_relpath",
    "write_index",
    "write_model_page",
    "write_run_report",
]
