"""The run report: one self-contained HTML page showing what a run did.

- `page`: renders and writes the page (Jinja2, autoescaped);
- `sections`: each section's values, read from one run;
- `charts`, `graph`: matplotlib charts and the component graph as inline SVG;
- `summary`: a run as a notebook shows it, inline.

The report is given a run (a RunResult) and reads its artifacts; it never
reads ML Metadata itself.
"""
