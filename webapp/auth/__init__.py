"""Signing in: sessions, CSRF, login throttling and bearer tokens."""
