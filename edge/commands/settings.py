"""`edge settings`: every setting, its value on this box and what it means."""

from __future__ import annotations

import argparse

from edge.cli import settings_of
from edge.settings import documented_settings


def run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    for name, _default, help_text in documented_settings():
        print(f"{name} = {getattr(settings, name)!r}\n    {help_text}")
    return 0
