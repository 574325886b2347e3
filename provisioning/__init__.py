"""`edge-fleet`, the IT officer's tool for a fleet of boxes over SSH (docs/provisioning.md),
and in `onbox/` the programs it keeps on every box."""
