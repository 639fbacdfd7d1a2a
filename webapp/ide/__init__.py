"""The browser IDE behind the portal: a run's code-server served at ``/ide/<run>/``.

The portal checks access and finds the run's upstream (a loopback port, a local forwarder for
SSH hosts); ``IdeProxy`` only moves bytes, so it works the same for every kind of host.
"""

from webapp.ide.proxy import IdeProxy

__all__ = ["IdeProxy"]
