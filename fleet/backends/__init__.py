"""Workspace backends: everything that differs between "a unix user on a host", "a container on
a host" and "a Slurm job" lives here, one module per backend behind one interface (base.py).

Adding a backend means adding one module with a ``Backend`` subclass (and its ``Settings``) and
registering it in registry.py; nothing else in the platform names a backend. See base.py for
what a backend implements and docs/ARCHITECTURE.md ("Workspace backends") for the picture.
"""
