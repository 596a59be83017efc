"""Sphinx configuration: Furo theme, Markdown pages (MyST), the API reference from the docstrings.

Built strict by ``make docs`` (and so by ``make test``): every warning fails the build, a broken
cross-reference included (nitpicky), except references to other projects' objects, whose
inventories are not reachable offline.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Importing the provider imports Airflow, which writes a config to AIRFLOW_HOME: never the user's.
os.environ["AIRFLOW_HOME"] = str(ROOT / "docs" / "_build" / "airflow-home")

from airflow_webflow_audit import __version__  # noqa: E402

project = "airflow-webflow-audit"
author = "The airflow-webflow-audit authors"
copyright = "2026, the airflow-webflow-audit authors"
release = version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

html_theme = "furo"
html_title = f"airflow-webflow-audit {release}"
html_static_path: list[str] = []

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

# A reference to this package's own objects must resolve; references to other projects' objects
# (Airflow, the standard library, pyarrow...) cannot, offline, so they are let through.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!airflow_webflow_audit\b).*"),
    # TypeVars, which autodoc does not document as objects.
    (r"py:(obj|class)", r"airflow_webflow_audit\.hooks\.(webflow\.Item|paging\.Handle)"),
]
