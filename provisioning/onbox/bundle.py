"""The on-box programs as single executable files (Python zip applications), byte for byte
the same wherever they are built, so the fleet tool knows by hash whether a box has them."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

HERE = Path(__file__).parent
SHEBANG = b"#!/usr/bin/python3\n"
PROGRAMS = {"edge-release": "edge_release", "edge-pair": "edge_pair"}
DROPIN = HERE / "sshd_edge.conf"
EPOCH = (1980, 1, 1, 0, 0, 0)


def program(name: str) -> bytes:
    """The bytes of `/usr/local/sbin/<name>`: a shebang, then a zip of this package."""
    module = PROGRAMS[name]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        files = sorted(p for p in HERE.glob("*.py") if p.name not in ("bundle.py", "__main__.py"))
        for path in files:
            _add(z, f"onbox/{path.name}", path.read_bytes())
        main = f"from onbox.{module} import main\nraise SystemExit(main())\n"
        _add(z, "__main__.py", main.encode())
    return SHEBANG + buffer.getvalue()


def _add(z: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, EPOCH)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, data)


def files() -> dict[str, tuple[bytes, int]]:
    """Path under the box root -> (content, mode) of every piece the box needs."""
    out = {f"usr/local/sbin/{name}": (program(name), 0o755) for name in PROGRAMS}
    out["etc/ssh/sshd_config.d/edge.conf"] = (DROPIN.read_bytes(), 0o644)
    return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def install(root: Path) -> list[str]:
    """Write every piece under `root` (the image build; tests)."""
    written = []
    for rel, (data, mode) in files().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
        written.append(str(path))
    return written
