"""The JSON API: bearer tokens, /api/v1/me, errors as JSON with a reason."""

from sqlmodel import Session, select

from baselines import tokens
from baselines.tokens import ApiToken
from baselines.users import Role, User
from tests.conftest import login, post_form
from timetracking.utc import utcnow


def _token(engine, user) -> str:
    with Session(engine) as s:
        _, plain = tokens.create(s, s.get(User, user.id), "script", utcnow(), actor_id=user.id)
        s.commit()
    return plain


def test_me_with_a_token(client, engine, make_user):
    analyst = make_user(Role.analyst)
    plain = _token(engine, analyst)
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"})
    assert response.status_code == 200
    assert response.json() == {
        "id": analyst.id,
        "email": analyst.email,
        "name": analyst.name,
        "role": "analyst",
    }
    with Session(engine) as s:
        row = s.exec(select(ApiToken)).one()
        assert row.token_hash != plain and plain not in row.token_hash
        assert row.last_used_at is not None


def test_missing_bad_and_revoked_tokens_are_401_json(client, engine, make_user):
    user = make_user(Role.expert)
    plain = _token(engine, user)
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer bl_nope"}):
        response = client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401
        assert response.json()["detail"]
        assert response.headers["www-authenticate"] == "Bearer"
    with Session(engine) as s:
        tokens.revoke(s, s.get(User, user.id), s.exec(select(ApiToken.id)).one(), utcnow())
        s.commit()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"}).status_code == 401


def test_tokens_from_the_account_page_shown_once(client, engine, make_user):
    user = make_user(Role.finance)
    login(client, user)
    empty = post_form(client, "/account/tokens", {"name": ""}, page="/account")
    assert empty.status_code == 400
    assert 'id="name-error">Give the token a name' in empty.text
    made = post_form(client, "/account/tokens", {"name": "payout script"}, page="/account")
    assert made.status_code == 200
    plain = made.text.split('aria-label="New API token"')[0].rsplit('value="', 1)[1].split('"')[0]
    assert plain.startswith("bl_")
    assert plain not in client.get("/account").text  # never shown again
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"})
    assert me.json()["email"] == user.email


def test_another_users_token_cannot_be_revoked(client, engine, make_user):
    owner = make_user(Role.expert)
    other = make_user(Role.expert)
    _token(engine, owner)
    with Session(engine) as s:
        token_id = s.exec(select(ApiToken.id)).one()
    login(client, other)
    response = post_form(client, f"/account/tokens/{token_id}/revoke", {}, page="/account")
    assert response.status_code == 404
    with Session(engine) as s:
        assert s.get(ApiToken, token_id).revoked_at is None


def test_openapi_docs_and_health_are_served_locally(client):
    spec = client.get("/openapi.json")
    assert spec.status_code == 200 and "/api/v1/me" in spec.json()["paths"]
    docs = client.get("/docs").text
    assert "/static/swagger/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok", "database": "ok"}


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"detail": "There is no page at this address."}
