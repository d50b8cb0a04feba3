"""Probe package for fray-bench: installing it is the whole point."""

VERSION = "0.1.0"
