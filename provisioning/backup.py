"""`edge-fleet backup`: an online, verified backup made on each box, pulled to the laptop,
checked against the box's sha256 and verified again here (hash chain, replay, integrity). An
encrypted backup (every box since encryption at rest) opens only with one of its key slots,
which travel beside it: the box verified it with its key before answering, and the laptop
checks that both files arrived as the box sent them."""

from __future__ import annotations

import os
from pathlib import Path

from edge.journal.verify import verify
from provisioning.errors import BoxRefused, Unreachable
from provisioning.onbox.layout import sha256_file as sha256
from provisioning.transport import RELEASE, Session

PLAIN = b"SQLite format 3\x00"


def pull(session: Session, dest: Path) -> tuple[Path, int]:
    """The box's new backup, as a verified file under `dest`; (path, actions in it, or -1 for
    an encrypted backup, verified on the box)."""
    made = session.call(RELEASE, "backup", timeout=600)
    remote = str(made["path"])
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    local = dest / Path(remote).name
    part = local.with_name(local.name + ".part")
    try:
        session.sftp().get(remote, str(part))
    except OSError as exc:
        raise Unreachable(f"download of the backup cut ({exc})") from None
    os.chmod(part, 0o600)  # personal data: this user only
    if sha256(part) != made["sha256"]:
        part.unlink()
        raise Unreachable("the backup arrived damaged; trying again")
    with open(part, "rb") as f:
        plain = f.read(len(PLAIN)) == PLAIN
    if not plain:
        if made.get("keyslots"):
            slots = local.with_name(local.name + ".keyslots.json")
            _fetch(session, str(made["keyslots"]), slots, str(made["keyslots_sha256"]))
        part.replace(local)
        return local, -1
    report = verify(part)
    if not report.ok:
        part.unlink()
        raise BoxRefused(f"the backup does not verify: {report.problems[0]}")
    part.replace(local)
    return local, report.actions


def _fetch(session: Session, remote: str, local: Path, digest: str) -> None:
    part = local.with_name(local.name + ".part")
    try:
        session.sftp().get(remote, str(part))
    except OSError as exc:
        raise Unreachable(f"download of the backup's key slots cut ({exc})") from None
    os.chmod(part, 0o600)
    if sha256(part) != digest:
        part.unlink()
        raise Unreachable("the backup's key slots arrived damaged; trying again")
    part.replace(local)
