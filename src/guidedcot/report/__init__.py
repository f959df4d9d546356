"""Reports of an evaluation: the run folder, Markdown, a browsable HTML page, and a PNG chart."""

from guidedcot.report.chart import render_chart
from guidedcot.report.html import render_html
from guidedcot.report.markdown import render_markdown
from guidedcot.report.run_folder import evaluate_to_folder, write_run_folder

__all__ = ["evaluate_to_folder", "render_chart", "render_html", "render_markdown", "write_run_folder"]
