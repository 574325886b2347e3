"""Talking to the national registry: the sync worker, the protocol client and the reference
registry. Not written yet: the box keeps every action pending until it is (see docs/)."""
