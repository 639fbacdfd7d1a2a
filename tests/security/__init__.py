"""The security suite: what an attacker would try first, each proved against the real app.

Who may open what (every route, as every role, on someone else's objects) is proved by the access
matrix, tests/webapp/test_route_matrix.py; these modules prove the rest:

- test_headers: security headers on every kind of answer, and pages that still work under them.
- test_csrf: every form route checks its token; the exempt ones say why.
- test_sessions: no session fixation; a signed-in cookie is worthless once signed out.
- test_login_limit: password guessing is throttled per account and per address.
- test_paths: nothing that names a file reaches outside where it should.
- test_secrets: passwords, tokens and keys never reach logs, exports or the audit log.

Other modules here say what they prove in their own docstrings.
"""
