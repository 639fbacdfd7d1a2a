"""How the platform reaches a GPU host: run commands, copy files, open TCP to a host port.

One small interface (``Driver`` in base.py) with two implementations chosen by the host's
record: ``local`` (this machine, the embedded default) and ``ssh`` (paramiko, pinned host keys).
"""
