"""`edge pairing`: the box's pairing code and whether an IT officer has paired it."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from edge.pairing import state


def run(args: argparse.Namespace) -> int:
    now = state()
    if args.json:
        print(json.dumps(asdict(now)))
    elif args.issue:
        # For the console's login prompt (/etc/issue.d): nothing once paired.
        if now.code and not now.paired:
            print(f"\nThis box is not paired yet. Pairing code: {now.code}\n")
    elif now.code is None:
        print("This box has no SSH host key yet (it is made at first boot).")
    elif now.paired:
        print(f"Paired on {now.paired_at} with {now.officer}. Host key code: {now.code}")
    else:
        print(f"Not paired yet. Pairing code: {now.code}")
    return 0
