"""The fleet tool's errors: each says what happened and what the officer can do, and whether
trying again later can help (a lossy link) or not (a changed host key)."""

from __future__ import annotations


class FleetError(Exception):
    """Base of every error the fleet tool raises on purpose."""

    retry = False

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unreachable(FleetError):
    """The link failed (no route, timeout, connection cut): tried again with backoff."""

    retry = True


class HostKeyChanged(FleetError):
    def __init__(self, name: str, where: str, why: str) -> None:
        super().__init__(
            f"{name} at {where} is refused: its SSH host key is not the one paired ({why}). "
            "Nothing was sent to it. If the box was re-imaged or replaced, run "
            f"`edge-fleet forget {name}` and pair it again on the office network; otherwise "
            "something may be impersonating it: check the network before going on."
        )


class NotPaired(FleetError):
    """The inventory has no trusted key for this box."""


class PairingRefused(FleetError):
    """The pairing code did not match, or the box refused to pair."""


class BoxRefused(FleetError):
    """A command on the box failed; the box's own message follows."""


class InventoryError(FleetError):
    """The inventory file is not valid; the message names the entry and the field."""
