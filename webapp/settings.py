"""All configuration in one place: ``BASELINER_*`` variables, then an optional TOML file.

The defaults are the embedded setup: SQLite and data under ``var/``, served on this machine.
"""

import os
import secrets
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BASELINER_", extra="ignore")

    data_dir: Path = Path("var")
    # Empty means SQLite in data_dir; e.g. postgresql+psycopg://user@127.0.0.1:5432/baseliner.
    database_url: str = ""
    # Empty means a random key kept in data_dir/secret_key (created once, mode 0600).
    secret_key: SecretStr = SecretStr("")
    # Where `baseliner serve` and `baseliner demo` listen; their --host and --port win.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Where people reach the portal; an https address makes cookies Secure. Left unset, serve
    # and demo make it the address they listen at (webapp.cli.listening).
    public_url: str = "http://127.0.0.1:8000"
    # Where the `task` command's API listens, seen from this machine (the reverse tunnels from
    # the hosts end here); empty: public_url.
    task_api_url: str = ""
    environment_dirs: str = ""
    # Production with one IDE subdomain per run (deploy/nginx): the parent domain, e.g.
    # ".baseliner.example.org", so the session reaches run-<id>.ide.baseliner.example.org.
    cookie_domain: str = ""
    # Where a run's IDE is opened: through the portal by default, or e.g.
    # "https://run-{run}.ide.baseliner.example.org/" when a proxy carries IDE traffic beside the
    # portal; then the portal's own /ide/ path is closed, so no IDE shares the portal's origin.
    # With the default only the run's expert opens its IDE; staff need per-run subdomains to
    # look in (webapp.ide.origin says why).
    ide_url: str = "/ide/{run}/"
    # Where the SSH forwarders to the runs' code-servers listen, and the address a reverse proxy
    # on another machine or container dials them at (what /ide-auth answers); the defaults keep
    # them on loopback. deploy/compose.yaml: bind 0.0.0.0 on a network only Caddy shares, and
    # the address is the app container's name.
    ide_tunnel_bind: str = "127.0.0.1"
    ide_tunnel_address: str = ""
    session_max_age_s: int = 14 * 24 * 3600
    # Sign-in throttling (webapp.auth.throttle): wrong passwords per address and account in the
    # window before that address waits; the longest pause an account under attack from many
    # addresses imposes on each try.
    login_max_failures: int = 5
    login_window_s: int = 15 * 60
    login_max_delay_s: int = 5 * 60
    # Peers whose X-Forwarded-For names the client (uvicorn's forwarded_allow_ips: addresses,
    # networks, or "*"): the front proxy only. Nobody else's header is believed.
    forwarded_allow_ips: str = "127.0.0.1"
    reset_link_ttl_s: int = 72 * 3600
    # Background jobs (the host health check); tests turn them off and call them directly.
    scheduler: bool = True
    health_interval_s: int = 60
    # How often live workspaces are asked whether they still exist, and failed clean-ups retried.
    workspace_poll_s: int = 60
    # How often runs waiting on a scheduler's queue (a Slurm job) are asked whether they run.
    pending_poll_s: int = 5
    # Checkpoint snapshots of the task folder (fleet.snapshots): the size cap, and names or
    # globs left out beside the defaults (caches, the IDE's files), separated by commas.
    snapshot_max_mb: int = 500
    snapshot_excludes: str = ""
    # The threads that score queued checkpoints and hold the workspaces' `task` tunnels. Every
    # serve process may run them: a lease in the database picks one process for each.
    scoring_worker: bool = True
    # The clock: no activity for this long opens an idle pause (an environment's manifest may
    # set its own, baseliner.idle_after_s); how often idle runs and reached limits are looked for.
    idle_after_s: int = 600
    clock_interval_s: int = 15
    # Pay periods for timesheets: this many days each, counted from the anchor date (a Monday
    # by default), as dates in this time zone.
    pay_period_days: int = 7
    pay_period_anchor: date = date(2024, 1, 1)
    pay_timezone: str = "UTC"
    # Stripe Connect payouts: on when the secret key is set (else the CSV is the payout method).
    # stripe_api_base points the official client elsewhere (tests' stand-in); empty: Stripe.
    stripe_secret_key: SecretStr = SecretStr("")
    stripe_webhook_secret: SecretStr = SecretStr("")
    stripe_api_base: str = ""
    stripe_timeout_s: float = 20.0
    # GET /metrics for Prometheus: set, the scraper sends it as `Authorization: Bearer <token>`;
    # empty, only a signed-in admin may read it.
    metrics_token: SecretStr = SecretStr("")
    # How `baseliner serve` writes its logs: "text", or "json" (one object a line, for a log
    # shipper).
    log_format: Literal["text", "json"] = "text"
    # What every workspace user, container and scratch user this installation makes on a host
    # starts with (fleet.naming); empty: one made at random and kept in data_dir.
    workspace_prefix: str = ""
    # The language model lent to runs whose environment declares one (baseliner.model): an
    # OpenAI-compatible base URL ending in /v1, the model's name and its key. The portal's
    # gateway (webapp.model_gateway) serves it to the workspace under the run's development
    # budget, and the family's scoring uses the same three variables. Unset: the environment's
    # stand-in (its standin script), started by the portal on loopback.
    model_base_url: str = ""
    model: str = ""
    model_api_key: SecretStr = SecretStr("")
    # At most this many of one run's requests go to the model at once (more: 429); how long the
    # model may take to answer one.
    model_max_in_flight: int = Field(default=8, ge=1)
    model_timeout_s: float = Field(default=120.0, gt=0)

    @field_validator("workspace_prefix")
    @classmethod
    def _usable_prefix(cls, value: str) -> str:
        """Refused at start-up, not at the first workspace: it names users and containers."""
        from fleet import naming

        return naming.check(value) if value else value

    @property
    def stripe_enabled(self) -> bool:
        return bool(self.stripe_secret_key.get_secret_value())

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("BASELINER_CONFIG")
        if config_file:
            if not Path(config_file).is_file():
                raise FileNotFoundError(
                    f"BASELINER_CONFIG names {config_file}, which does not exist"
                )
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir.resolve() / 'baseliner.db'}"

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @cached_property
    def prefix(self) -> str:
        """This installation's workspace prefix (see workspace_prefix)."""
        from fleet import naming

        return naming.load(self.data_dir, self.workspace_prefix)

    @cached_property
    def session_secret(self) -> str:
        if self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        return path.read_text().strip()
