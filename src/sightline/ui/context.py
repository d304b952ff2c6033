"""What every panel of one app shares: the app's own server client and the deployment's switches."""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from sightline.client.remote import RemoteModel
from sightline.models.base import ModelInfo
from sightline.ui.state import RUNS, Connection, RunRegistry, UserState

OWN_LABEL = "this app's server"


def _env_bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class UIConfig:
    """Switches for a public deployment; the defaults are the safe ones."""

    allow_private_urls: bool = field(default_factory=lambda: _env_bool("SIGHTLINE_ALLOW_PRIVATE_URLS"))
    login: tuple[str, str] | None = field(default_factory=lambda: _login_from_env())
    # the server's API key: without a login, the page asks for it (any user name, the key as password)
    api_key: str | None = field(default_factory=lambda: os.environ.get("SIGHTLINE_API_KEY") or None)
    max_file_mb: float = 50.0  # per uploaded file, enforced by the page before anything reaches the server
    gallery_page: int = 60  # results per gallery page

    def auth(self) -> list[tuple[str, str]] | Callable[[str, str], bool] | None:
        """Gradio's ``auth``: the login if set, else the API key as password, else none (an open page)."""
        if self.login:
            return [self.login]
        key = self.api_key
        if key:
            return lambda user, password: hmac.compare_digest(password.encode(), key.encode())
        return None

    def auth_message(self) -> str:
        if not self.login and self.api_key:
            return "sightline: sign in with any user name and this server's API key as the password"
        return "sightline: sign in to use this app"


def _login_from_env() -> tuple[str, str] | None:
    value = os.environ.get("SIGHTLINE_LOGIN", "")  # "user:password"
    user, sep, password = value.partition(":")
    return (user, password) if sep and user and password else None


@dataclass
class AppContext:
    own: RemoteModel  # the SDK handle on the server this page is mounted on
    own_info: ModelInfo  # its model, known before the server answers (the page is built before it starts)
    config: UIConfig
    zoo_names: list[str]
    runs: RunRegistry = field(default_factory=lambda: RUNS)
    connect_timeout: float = 10.0

    def own_connection(self, browser: str | None = None) -> Connection:
        """This app's server, as the client of ``browser``: on a server without an API key, each browser's
        runs are its own there (its id, kept in the browser's ``localStorage``, is its client token)."""
        return Connection(self.own.as_client(f"page-{browser}") if browser else self.own, OWN_LABEL)

    def new_user(self) -> UserState:
        return UserState(self.own_connection())
