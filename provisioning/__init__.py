"""The IT officer's tool for provisioning boxes over SSH. Not written yet."""
