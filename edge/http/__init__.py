"""The box's HTTP surface: the JSON API (and, later, the office web UI)."""
