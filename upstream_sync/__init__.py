"""Talking to the national registry: the protocol, the box's client, and the reference
registry (docs/sync-protocol.md). Pull, the login check and the background worker come next."""
