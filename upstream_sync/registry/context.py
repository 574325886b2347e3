"""What the registry's handlers work with, made once at startup: its settings, database, key,
password hasher and the country configuration in force."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar.datastructures import State

from edge.users.passwords import Hasher
from edge.workflow.config import Config
from upstream_sync.registry.db import RegistryDB
from upstream_sync.registry.settings import RegistrySettings


@dataclass(frozen=True)
class RegistryContext:
    settings: RegistrySettings
    db: RegistryDB
    key: Ed25519PrivateKey
    hasher: Hasher
    config: Config  # names the records (their titles), as the boxes' configuration does
    recovery_public: bytes = b""  # the country's recovery key, given to boxes at enrollment

    @property
    def offered(self) -> frozenset[str]:
        return self.settings.offered


def registry_of(state: State) -> RegistryContext:
    """The registry's context, typed (the app's state holds it under `registry`)."""
    return cast(RegistryContext, state.registry)
