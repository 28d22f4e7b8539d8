"""Fit objects and their tables and printed summaries."""
