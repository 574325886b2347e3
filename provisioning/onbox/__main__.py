"""`python3 -m provisioning.onbox ROOT`: put the on-box programs and the sshd drop-in into
an image's root file system (ROOT/usr/local/sbin/edge-release, edge-pair and
ROOT/etc/ssh/sshd_config.d/edge.conf), exactly as `edge-fleet apply` keeps them."""

from __future__ import annotations

import sys
from pathlib import Path

from .bundle import install

if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    for path in install(Path(sys.argv[1])):
        print(path)
