"""Reports of an evaluation: Markdown, a browsable HTML page, and a PNG chart."""

from guidedcot.report.chart import render_chart
from guidedcot.report.html import render_html
from guidedcot.report.markdown import render_markdown

__all__ = ["render_chart", "render_html", "render_markdown"]
