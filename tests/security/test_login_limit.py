"""Password guessing over HTTP is throttled, per account and per address, and nothing else is.

tests/webapp/test_auth.py already proves that ``login_max_failures`` wrong passwords for one
email make the next try answer 429 even with the right password, and that the block lifts after
the window. This adds: a throttled try signs nobody in (no session, whatever the password); the
block is the guessing address's, not the account's: the owner signs in from elsewhere (issue 17;
tests/security/test_login_lockout.py has the rest); it holds for unknown emails alike (the
answer does not tell which accounts exist); one address trying many emails is stopped at four
times the limit, even with a different ``X-Forwarded-For`` on each try; and other accounts, and
the same account from elsewhere while only the address is blocked, still sign in.
"""

from fastapi.testclient import TestClient

from baselines.users import Role
from tests.conftest import PASSWORD, csrf_token

BLOCKED = "Too many failed sign-ins"


def _try(client: TestClient, email: str, password: str, **headers: str):
    token = csrf_token(client, "/login")
    form = {"email": email, "password": password, "csrf_token": token}
    return client.post("/login", data=form, headers=headers)


def _from(app, address: str) -> TestClient:
    """A browser on another machine: its requests come from ``address``."""
    return TestClient(app, follow_redirects=False, client=(address, 40000))


def _signed_in(client: TestClient) -> bool:
    return client.get("/account").status_code == 200


def test_a_throttled_try_signs_nobody_in(app, client, make_user, settings) -> None:
    user, other = make_user(Role.admin), make_user(Role.expert)
    for _ in range(settings.login_max_failures):
        assert _try(client, user.email, "not it at all").status_code == 400
    blocked = _try(client, user.email, PASSWORD)
    assert blocked.status_code == 429 and BLOCKED in blocked.text
    assert "try again in about" in blocked.text.lower()
    assert not _signed_in(client)
    # The same account from another address is not: one guesser cannot lock the owner out.
    with _from(app, "198.51.100.7") as elsewhere:
        assert _try(elsewhere, user.email, PASSWORD).status_code == 303
        assert _signed_in(elsewhere)
    # Another account from the first address is not.
    assert _try(client, other.email, PASSWORD).status_code == 303
    assert _signed_in(client)


def test_unknown_emails_are_throttled_alike(client, settings) -> None:
    for _ in range(settings.login_max_failures):
        assert _try(client, "nobody@example.org", "guess").status_code == 400
    blocked = _try(client, "nobody@example.org", "guess")
    assert blocked.status_code == 429 and BLOCKED in blocked.text


def test_one_address_trying_many_accounts_is_stopped(app, make_user, settings) -> None:
    victim, bystander = make_user(Role.finance), make_user(Role.expert)
    per_address = settings.login_max_failures * 4
    with _from(app, "203.0.113.66") as attacker:
        for n in range(per_address):
            # Never the limit for one account, and a new claimed origin on every try.
            email = f"guess{n // (settings.login_max_failures - 1)}@example.org"
            spoofed = {"X-Forwarded-For": f"192.0.2.{n}", "X-Real-IP": f"192.0.2.{n}"}
            assert _try(attacker, email, "guess", **spoofed).status_code == 400, n
        blocked = _try(attacker, victim.email, PASSWORD)
        assert blocked.status_code == 429 and BLOCKED in blocked.text
        assert not _signed_in(attacker)
    # The accounts themselves are not locked: from another address both sign in.
    for user in (victim, bystander):
        with _from(app, "198.51.100.8") as owner:
            assert _try(owner, user.email, PASSWORD).status_code == 303
            assert _signed_in(owner)


def test_below_the_limit_the_right_password_still_works(client, make_user, settings) -> None:
    user = make_user(Role.analyst)
    for _ in range(settings.login_max_failures - 1):
        assert _try(client, user.email, "typo").status_code == 400
    assert _try(client, user.email, PASSWORD).status_code == 303
    assert _signed_in(client)
