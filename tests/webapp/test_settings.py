"""Settings come from BASELINER_* variables, then an optional TOML file; defaults are embedded."""

import pytest

from webapp.settings import Settings


def test_defaults_are_the_embedded_setup(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for key in ("BASELINER_DATABASE_URL", "BASELINER_DATA_DIR", "BASELINER_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    settings = Settings()
    assert settings.db_url == f"sqlite:///{tmp_path / 'var' / 'baseliner.db'}"
    assert not settings.secure_cookies
    key = settings.session_secret
    assert len(key) > 40
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert Settings().session_secret == key  # kept, so sessions survive a restart


def test_environment_then_config_file(monkeypatch, tmp_path):
    config = tmp_path / "baseliner.toml"
    config.write_text('public_url = "https://portal.example.org"\nlogin_max_failures = 9\n')
    monkeypatch.setenv("BASELINER_CONFIG", str(config))
    monkeypatch.setenv("BASELINER_LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("BASELINER_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1/db")
    settings = Settings()
    assert settings.public_url == "https://portal.example.org" and settings.secure_cookies
    assert settings.login_max_failures == 3  # the variable wins over the file
    assert settings.db_url == "postgresql+psycopg://u@127.0.0.1/db"


def test_missing_config_file_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("BASELINER_CONFIG", "/nonexistent/baseliner.toml")
    with pytest.raises(FileNotFoundError, match="BASELINER_CONFIG names"):
        Settings()
