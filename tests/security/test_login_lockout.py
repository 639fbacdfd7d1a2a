"""Nobody can lock an account by knowing its email (issue 17).

A guesser's failures block the guesser's address, for that account and then for all; failures
for one account spread over many addresses slow every try for it by a pause that doubles and is
capped, never a lock; the owner, from an address of their own, signs in while one address is
being throttled. Real app, real HTTP through the TestClient (each client a machine with its own
address); the counts live in the database, so a second app process sees them.
"""

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from baselines.users import Role
from tests.conftest import PASSWORD, csrf_token, fixed_now
from timetracking.utc import utcnow
from webapp.app import create_app
from webapp.auth import device, throttle
from webapp.auth.throttle import LoginAttempt

PAUSED_HERE = "Too many failed sign-ins from your network"
SLOWED = "Too many failed sign-ins for this email address from several places"
WRONG = "Wrong email or password"


def _machine(app, address: str) -> TestClient:
    return TestClient(app, follow_redirects=False, client=(address, 40000))


def _try(client: TestClient, email: str, password: str, **headers: str):
    token = csrf_token(client, "/login")
    form = {"email": email, "password": password, "csrf_token": token}
    return client.post("/login", data=form, headers=headers)


def _signed_in(client: TestClient) -> bool:
    return client.get("/account").status_code == 200


def test_an_attackers_twenty_failures_do_not_stop_the_owner(app, make_user, settings) -> None:
    owner = make_user(Role.expert)
    fixed_now(app, utcnow())
    with _machine(app, "203.0.113.5") as attacker:
        answers = [_try(attacker, owner.email, f"guess {n}") for n in range(20)]
        codes = [r.status_code for r in answers]
        limit = settings.login_max_failures
        assert codes == [400] * limit + [429] * (20 - limit)
        assert WRONG in answers[0].text
        throttled = answers[-1]
        assert PAUSED_HERE in throttled.text and "Try again in about 15 minutes" in throttled.text
        assert int(throttled.headers["Retry-After"]) > 800
        # The attacker's address stays throttled, even with the right password.
        assert _try(attacker, owner.email, PASSWORD).status_code == 429
        assert not _signed_in(attacker)
    with _machine(app, "198.51.100.20") as home:
        assert _try(home, owner.email, PASSWORD).status_code == 303
        assert _signed_in(home)
    # Signing in did not lift the attacker's block.
    with _machine(app, "203.0.113.5") as attacker:
        assert _try(attacker, owner.email, PASSWORD).status_code == 429


def test_the_answer_is_the_same_for_an_unknown_email(app, settings) -> None:
    with _machine(app, "203.0.113.6") as attacker:
        for _ in range(settings.login_max_failures):
            assert _try(attacker, "nobody@example.org", "guess").status_code == 400
        answer = _try(attacker, "nobody@example.org", "guess")
    assert answer.status_code == 429 and PAUSED_HERE in answer.text


def _spread_failures(app, email: str, count: int, first_octet: int = 10) -> None:
    for n in range(count):
        with _machine(app, f"192.0.2.{first_octet + n}") as bot:
            assert _try(bot, email, f"guess {n}").status_code == 400, n


def test_failures_from_many_addresses_slow_the_account_but_do_not_lock_it(
    app, make_user, settings
) -> None:
    owner = make_user(Role.coordinator)
    start = utcnow()
    fixed_now(app, start)
    free = settings.login_max_failures * 2
    _spread_failures(app, owner.email, free)  # two addresses' worth: no pause yet
    with _machine(app, "198.51.100.30") as home:
        assert _try(home, owner.email, "typo").status_code == 400
        slowed = _try(home, owner.email, PASSWORD)
        assert slowed.status_code == 429 and SLOWED in slowed.text
        assert "Try again in 2 seconds" in slowed.text
        assert slowed.headers["Retry-After"] == "2"
        assert not _signed_in(home)
        # Not a lock: once the pause is over the right password works, from the same address.
        fixed_now(app, start + timedelta(seconds=2))
        assert _try(home, owner.email, PASSWORD).status_code == 303
        assert _signed_in(home)
    # Signing in ended the pause for everyone's next try.
    with _machine(app, "198.51.100.31") as elsewhere:
        assert _try(elsewhere, owner.email, "typo").status_code == 400


def test_the_pause_doubles_with_each_failure_and_is_capped(app, make_user, settings) -> None:
    owner = make_user(Role.expert)
    now = utcnow()
    fixed_now(app, now)
    free = settings.login_max_failures * 2
    _spread_failures(app, owner.email, free)
    waits = []
    for n in range(10):
        with _machine(app, f"198.18.0.{n + 1}") as bot:
            assert _try(bot, owner.email, "guess").status_code == 400
            refused = _try(bot, owner.email, PASSWORD)
            assert refused.status_code == 429 and SLOWED in refused.text
            waits.append(int(refused.headers["Retry-After"]))
        now += timedelta(seconds=waits[-1])
        fixed_now(app, now)
    cap = settings.login_max_delay_s
    assert waits[:8] == [2, 4, 8, 16, 32, 64, 128, 256]
    assert waits[8:] == [cap] * 2 and cap == 300
    # Each refused try was not counted: after the last pause the owner signs in at once.
    with _machine(app, "198.51.100.40") as home:
        assert _try(home, owner.email, PASSWORD).status_code == 303


def test_the_counts_are_shared_by_every_app_process(app, engine, make_user, settings) -> None:
    owner = make_user(Role.expert)
    with _machine(app, "203.0.113.7") as attacker:
        for _ in range(settings.login_max_failures):
            assert _try(attacker, owner.email, "guess").status_code == 400
    other_process = create_app(settings, migrate=False)
    with _machine(other_process, "203.0.113.7") as attacker:
        assert _try(attacker, owner.email, PASSWORD).status_code == 429
    with Session(engine) as s:
        rows = s.exec(select(LoginAttempt).where(LoginAttempt.email == owner.email)).all()
    assert [(r.ip, r.succeeded) for r in rows] == [("203.0.113.7", False)] * 5


def test_the_client_address_is_the_proxys_word_only_from_the_proxy(app, make_user, settings):
    """Behind the front proxy (``forwarded_allow_ips``) the address is its X-Forwarded-For;
    anyone else's header is ignored, so a guesser cannot claim a new address on every try."""
    owner = make_user(Role.expert)
    served = ProxyHeadersMiddleware(app, trusted_hosts=settings.forwarded_allow_ips)
    assert settings.forwarded_allow_ips == "127.0.0.1"
    with _machine(served, "203.0.113.8") as direct:
        for n in range(settings.login_max_failures):
            spoofed = {"X-Forwarded-For": f"192.0.2.{100 + n}"}
            assert _try(direct, owner.email, "guess", **spoofed).status_code == 400
        assert (
            _try(direct, owner.email, PASSWORD, **{"X-Forwarded-For": "192.0.2.99"}).status_code
            == 429
        )
    with _machine(served, "127.0.0.1") as proxy:
        # Two clients behind the proxy: the guesser is paused, the owner is not.
        for _ in range(settings.login_max_failures):
            assert _try(
                proxy, owner.email, "x", **{"X-Forwarded-For": "198.51.100.50"}
            ).status_code in (400, 429)
        assert (
            _try(proxy, owner.email, PASSWORD, **{"X-Forwarded-For": "198.51.100.50"}).status_code
            == 429
        )
        assert (
            _try(proxy, owner.email, PASSWORD, **{"X-Forwarded-For": "198.51.100.51"}).status_code
            == 303
        )


def test_delay_rule() -> None:
    limits = throttle.Limits(max_failures=5, window_s=900, max_delay_s=300)
    assert [throttle.account_delay_s(n, limits) for n in (0, 10, 11, 12, 13, 18, 19, 1000)] == [
        0, 0, 2, 4, 8, 256, 300, 300,
    ]  # fmt: skip


def test_a_browser_that_signed_in_before_is_not_slowed(app, make_user, settings) -> None:
    """OWASP's device cookie: the owner's usual browser goes through the account's pause; a
    cookie earned on another account (the guesser's own) does not."""
    owner, guesser = make_user(Role.expert), make_user(Role.expert)
    fixed_now(app, utcnow())
    with _machine(app, "198.51.100.60") as home:
        assert _try(home, owner.email, PASSWORD).status_code == 303
        assert device.COOKIE in home.cookies
        home.post("/logout", data={"csrf_token": csrf_token(home, "/account")})
        _spread_failures(app, owner.email, settings.login_max_failures * 2 + 1)
        with _machine(app, "198.51.100.61") as laptop:
            assert _try(laptop, owner.email, PASSWORD).status_code == 429
        assert _try(home, owner.email, PASSWORD).status_code == 303
    with _machine(app, "203.0.113.9") as attacker:
        assert _try(attacker, guesser.email, PASSWORD).status_code == 303
        attacker.post("/logout", data={"csrf_token": csrf_token(attacker, "/account")})
        _spread_failures(app, owner.email, settings.login_max_failures * 2 + 1, 40)
        refused = _try(attacker, owner.email, PASSWORD)
        assert refused.status_code == 429 and SLOWED in refused.text
