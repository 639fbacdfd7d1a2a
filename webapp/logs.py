"""Logging that keeps secrets out: set-password links are redacted from the access log."""

import logging
import re

_RESET_PATH = re.compile(r"/reset/[^\s?\"]+")


class RedactSecrets(logging.Filter):
    """Rewrites ``/reset/<token>`` to ``/reset/[redacted]`` in every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _RESET_PATH.sub("/reset/[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _RESET_PATH.sub("/reset/[redacted]", record.msg)
        return True


def install() -> None:
    """Call after uvicorn configured logging (uvicorn.Config does that when it is made)."""
    for name in ("uvicorn.access", "uvicorn.error", "baseliner"):
        logging.getLogger(name).addFilter(RedactSecrets())
