"""A reference national registry that speaks the sync protocol, for the demo and the tests."""
