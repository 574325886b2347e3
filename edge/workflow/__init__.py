"""Workflow rules: statuses, actions, flags, scopes and the country configuration."""
