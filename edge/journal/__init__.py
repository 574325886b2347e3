"""The journal: append-only actions, materialized record state, sync receipts."""
