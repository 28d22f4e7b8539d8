"""Sphinx configuration: the Markdown pages of docs/ (MyST) and an API reference from the docstrings.

Built by ``tests/test_docs.py`` with warnings as errors (``sphinx-build -W -b html docs OUT``).
"""

project = "bayesglmm"
author = "the bayesglmm developers"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "none"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
html_theme = "alabaster"
suppress_warnings = ["myst.header"]
