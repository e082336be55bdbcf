"""Reports on a study: the Pareto front as an offline HTML figure (plotly) and as a rich table.

plotly is imported only when a figure is built, so importing this package stays cheap.
"""
from __future__ import annotations

from dse.report.figures import pareto_figure, write_pareto_html
from dse.report.pareto import ParetoInfo, pareto_info
from dse.report.table import pareto_table

__all__ = ["ParetoInfo", "pareto_figure", "pareto_info", "pareto_table", "write_pareto_html"]
