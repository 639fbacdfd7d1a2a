"""Whether a run's IDE shares the portal's origin, and so whether staff may look in.

The embedded default (``ide_url = "/ide/{run}/"``) serves every IDE on the portal's own origin.
Whatever a workspace serves through code-server (a page the expert's code writes, a forwarded
port, an extension's webview) then runs as the portal's JavaScript: it can read the portal's
pages and post its forms with the cookies of whoever has the IDE open. For the run's expert that
is their own session in their own workspace. For a coordinator or admin looking in, it would hand
the workspace their powers (approving, paying, changing roles). So on the portal's origin only the
run's expert opens its IDE; staff look in where each run's IDE has an origin of its own
(``BASELINER_IDE_URL`` with per-run subdomains, deploy/README.md).
"""

from urllib.parse import urlsplit

from webapp.settings import Settings

# What staff are told, over JSON and WebSockets (the page, ide/staff_refused.html, says more).
STAFF_REFUSED = (
    "Staff cannot open a run's IDE while IDEs share the portal's address: code in the workspace "
    "could act with your session. To look in, give each run's IDE its own subdomain "
    "(BASELINER_IDE_URL, see deploy/README.md); the run page shows its checkpoints, diffs and "
    "notes meanwhile."
)


def shares_portal_origin(settings: Settings) -> bool:
    """True when a run's IDE address (``ide_url``) is on the portal's own scheme, host and port:
    a bare path such as the default, or an absolute address on the public URL's host."""
    ide = urlsplit(settings.ide_url.format(run=0))
    if not ide.netloc:
        return True
    portal = urlsplit(settings.public_url)
    return (ide.scheme, ide.netloc.lower()) == (portal.scheme, portal.netloc.lower())


def staff_may_look_in(settings: Settings) -> bool:
    """Whether coordinators and admins get a run's IDE (the run's expert always does)."""
    return not shares_portal_origin(settings)
