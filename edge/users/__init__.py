"""The local register of users (who may log in at this box, with which role)."""
