"""The on-box side of the fleet tool: `edge-release`, `edge-pair` and the sshd drop-in.

Standard library only (they run with the box's system python3, outside any release) and
installed as single-file programs by `bundle.py`; relative imports keep them working both
here and inside those programs.
"""
