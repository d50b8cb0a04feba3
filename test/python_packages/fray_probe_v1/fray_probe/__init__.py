"""Probe package for fray's venv tests: which version is importable."""

__version__ = "1.0"
