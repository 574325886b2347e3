#!/usr/bin/env python3
"""Where two root file system tars differ: names, metadata and content, file by file.

    tardiff.py A.tar B.tar        prints each difference; exit 1 when there is one

For when two builds from the same lock are not byte-identical: it says which files, and
whether their content, mode, owner, mtime, link target or extended attributes differ.
Standard library only.
"""

from __future__ import annotations

import hashlib
import sys
import tarfile
from pathlib import Path


def summary(path: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    with tarfile.open(path) as tar:
        for m in tar:
            digest = ""
            if m.isfile():
                f = tar.extractfile(m)
                digest = hashlib.sha256(f.read()).hexdigest()[:16] if f else ""
            xattrs = tuple(sorted((k, v) for k, v in m.pax_headers.items() if "xattr" in k))
            out[m.name] = (m.type, m.mode, m.uid, m.gid, m.mtime, m.linkname, digest, xattrs)
    return out


FIELDS = ("type", "mode", "uid", "gid", "mtime", "link", "content", "xattrs")


def differences(a: Path, b: Path) -> list[str]:
    left, right = summary(a), summary(b)
    lines = [f"only in {a.name}: {n}" for n in sorted(left.keys() - right.keys())]
    lines += [f"only in {b.name}: {n}" for n in sorted(right.keys() - left.keys())]
    for name in sorted(left.keys() & right.keys()):
        changed = [f for f, x, y in zip(FIELDS, left[name], right[name], strict=True) if x != y]
        if changed:
            lines.append(f"{name}: {', '.join(changed)} differ")
    if not lines and a.read_bytes() != b.read_bytes():
        lines.append("same files, metadata and content, but the tar bytes differ (order?)")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    found = differences(Path(argv[0]), Path(argv[1]))
    print("\n".join(found) or "identical")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
