"""Who is calling: the owner of the sessions a request may see, and its lane in the worker's round-robin.

A server with an API key has one owner, the key: everyone who holds it is one team and sees every session.
A server without a key (a public Space) tells its clients apart by the random token the SDK makes for
each process (``X-Sightline-Client``); the page sends one per browser through the SDK it uses. A request
with neither (curl, a vendor's client) is anonymous: the sessions it starts are owned by nobody and reached
only by their id, which is a random 128-bit capability, and no listing ever shows them.

Owners are kept as digests: neither the key nor a client's token is ever stored or logged.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from fastapi import Request

from sightline.errors import InvalidSettingError, PermissionDeniedError
from sightline.server.forwarded import visitor_address

CLIENT_HEADER = "X-Sightline-Client"
CLIENT_TOKEN = re.compile(r"^[A-Za-z0-9_.-]{8,128}$")


def _digest(kind: str, secret: str) -> str:
    return f"{kind}:{hashlib.sha256(f'{kind}:{secret}'.encode()).hexdigest()[:32]}"


@dataclass(frozen=True)
class Caller:
    """``owner``: whose sessions this request reaches (None: anonymous, only unowned ones by id);
    ``lane``: who waits in line for the model (the client's token, else its address)."""

    owner: str | None
    lane: str

    def may_see(self, owned_by: str | None) -> bool:
        """An owned session is its owner's only; an unowned one (anonymous or vendor clients) is reached by its id."""
        return owned_by is None or owned_by == self.owner


def caller_of(request: Request) -> Caller:
    """The caller of a request (the API key has been checked already where the server has one)."""
    state = request.app.state.sightline  # not through server.state, which imports the session store
    config = state.config
    token = request.headers.get(CLIENT_HEADER)
    if token is not None and not CLIENT_TOKEN.match(token):
        raise InvalidSettingError(f"the {CLIENT_HEADER} header must be 8 to 128 letters, digits, '.', '_' or '-'",
                                  detail={"field": CLIENT_HEADER})
    client = _digest("client", token) if token else None
    owner = _digest("key", config.api_key) if config.api_key else client
    address = visitor_address(request.scope, state.trusted_proxies)
    return Caller(owner, client or f"address:{address}")


def require_model_admin(request: Request) -> None:
    """Refuse loading, unloading and uploading models on a keyless server unless its operator allowed them."""
    if not request.app.state.sightline.config.model_admin_open():
        raise PermissionDeniedError(
            "loading, unloading and uploading models is turned off on this server: it has no API key, so any "
            "visitor could change the model everyone uses. Its operator can set an API key (SIGHTLINE_API_KEY) "
            "or allow it for everyone (SIGHTLINE_ALLOW_MODEL_ADMIN=1)"
        )
