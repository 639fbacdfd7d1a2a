"""Set-password links never reach the logs, and NUL characters never reach the database."""

import logging

from baselines.users import Role
from tests.conftest import login
from webapp.logs import RedactSecrets


def test_access_log_redacts_reset_tokens():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/reset/AbC-123_secret?x=1", "1.1", 200),
        None,
    )
    RedactSecrets().filter(record)
    line = record.getMessage()
    assert "AbC-123_secret" not in line and "/reset/[redacted]?x=1" in line


def test_nul_characters_are_dropped_not_a_server_error(client, make_user):
    admin = make_user(Role.admin)
    login(client, admin)
    assert client.get("/admin/audit?actor=a%00b&action=x%00").status_code == 200
    from tests.conftest import csrf_token

    token = csrf_token(client, "/admin/users")
    response = client.post(
        "/admin/users",
        data={
            "email": "nul\x00@example.org",
            "name": "N\x00ul",
            "role": "finance",
            "csrf_token": token,
        },
    )
    assert response.status_code == 200  # stored as nul@example.org, name "Nul"
    assert "nul@example.org" in response.text
