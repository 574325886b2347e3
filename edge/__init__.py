"""The office edge box: journal, workflow, HTTP surface and CLI."""

__version__ = "0.1.0"
