"""Microsoft Entra ID through Microsoft Graph: the only module that talks to Graph.

The portal signs in as an app registration with client credentials (the v2.0 token endpoint, scope
``https://graph.microsoft.com/.default``) and needs these application permissions, with admin consent:
``User.Read.All`` (the sync), and for governance ``User.RevokeSessions.All`` and
``User.EnableDisableAccount.All``. The Graph and sign-in base URLs are configurable so that tests and
the demo run against ``localaws.graph``, which speaks the same requests and responses.

Every failure is a ``GraphError`` whose message says what to fix and whose ``transient`` flag says
whether trying again later may help (throttling, 5xx, network) or not (400/401/403/404).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from connectors.models import EntraConnection

logger = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
USER_FIELDS = ("id", "displayName", "mail", "userPrincipalName", "accountEnabled")
DELETED_USER_FIELDS = ("id", "displayName", "mail", "userPrincipalName", "deletedDateTime")
# Graph's largest page for /users.
PAGE_SIZE = 999
# Seconds to connect, and to wait for a response.
TIMEOUT = (5, 30)
# A token is replaced this long before Graph would reject it.
TOKEN_MARGIN_SECONDS = 300
# Throttled requests (429) are tried this many times in all, waiting as Graph's Retry-After asks, up
# to MAX_RETRY_AFTER seconds; a longer wait is left to the caller's own retry (a Celery task's).
MAX_ATTEMPTS = 4
MAX_RETRY_AFTER = 60
DEFAULT_RETRY_AFTER = 2

# Token endpoint errors (AADSTS codes) worded as what to fix.
_TOKEN_ERRORS = {
    "AADSTS7000215": "The client secret is wrong ({code}): enter the secret's Value, not its Secret ID, "
    "from the app registration's Certificates & secrets page.",
    "AADSTS7000222": "The client secret has expired ({code}): create a new one in the app registration's "
    "Certificates & secrets page and enter it here.",
    "AADSTS700016": "The client ID is not an application in this tenant ({code}): copy the Application "
    "(client) ID from the app registration's Overview page, and check the tenant ID.",
    "AADSTS90002": "The tenant ID is not a Microsoft Entra tenant ({code}): copy the Directory (tenant) ID "
    "from the app registration's Overview page.",
    "AADSTS900023": "The tenant ID is not valid ({code}): it is a GUID such as "
    "72f988bf-86f1-41af-91ab-2d7cd011db47, or a domain such as contoso.onmicrosoft.com.",
    "AADSTS700027": "The client assertion was refused ({code}): use a client secret.",
}

# Graph error codes worded as what to fix.
_GRAPH_ERRORS = {
    "Authorization_RequestDenied": "The app registration lacks a Graph permission ({code}): grant the "
    "application permissions User.Read.All, User.RevokeSessions.All and User.EnableDisableAccount.All "
    "with admin consent.",
    "Request_ResourceNotFound": "Entra ID has no such user ({code}).",
    "InvalidAuthenticationToken": "Microsoft Graph refused the access token ({code}).",
}


class GraphError(Exception):
    """A Graph or token endpoint failure. ``status``: HTTP status (None: no response); ``code``:
    Graph's error code or the AADSTS code; ``transient``: worth trying again later."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "", transient: bool = False):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.transient = transient

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float


# Tokens by (sign-in URL, tenant, client, hash of the secret): every client built for the same
# credentials in one process shares the token until shortly before it expires.
_tokens: dict[tuple[str, str, str, str], _Token] = {}
_tokens_lock = threading.Lock()


def _is_transient(status: int) -> bool:
    return status == 429 or status >= 500


def _retry_after(response: requests.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", DEFAULT_RETRY_AFTER)))
    except ValueError:
        return DEFAULT_RETRY_AFTER


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _token_error(response: requests.Response) -> GraphError:
    body = _json(response)
    description = str(body.get("error_description") or "").strip()
    # "AADSTS7000215: Invalid client secret provided. ...\r\nTrace ID: ..." -> its first line.
    first_line = description.splitlines()[0] if description else ""
    code = first_line.split(":", 1)[0] if first_line.startswith("AADSTS") else str(body.get("error") or "")
    if code in _TOKEN_ERRORS:
        message = _TOKEN_ERRORS[code].format(code=code)
    elif first_line:
        message = f"Microsoft Entra ID refused the sign-in: {first_line}"
    else:
        message = f"Microsoft Entra ID's token endpoint answered HTTP {response.status_code}."
    return GraphError(
        message, status=response.status_code, code=code, transient=_is_transient(response.status_code)
    )


def _graph_error(response: requests.Response, what: str) -> GraphError:
    error = _json(response).get("error")
    error = error if isinstance(error, dict) else {}
    code = str(error.get("code") or "")
    detail = str(error.get("message") or "").strip()
    status = response.status_code
    if code in _GRAPH_ERRORS:
        message = _GRAPH_ERRORS[code].format(code=code)
    elif status == 429:
        message = f"Microsoft Graph is throttling the portal ({code or 'TooManyRequests'})."
    elif status >= 500:
        message = f"Microsoft Graph is unavailable (HTTP {status}{', ' + code if code else ''})."
    else:
        message = f"Microsoft Graph refused the request (HTTP {status}{', ' + code if code else ''})."
    if detail:
        message = f"{message} {detail}"
    return GraphError(f"{what}: {message}", status=status, code=code, transient=_is_transient(status))


class GraphClient:
    """Microsoft Graph as one app registration of one tenant."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        graph_base_url: str = EntraConnection.DEFAULT_GRAPH_BASE_URL,
        login_base_url: str = EntraConnection.DEFAULT_LOGIN_BASE_URL,
    ):
        self.tenant_id = tenant_id.strip()
        self.client_id = client_id.strip()
        self._client_secret = client_secret
        self.graph_base_url = graph_base_url.rstrip("/")
        self.login_base_url = login_base_url.rstrip("/")
        self._session = requests.Session()
        secret_hash = hashlib.sha256(client_secret.encode()).hexdigest()
        self._token_key = (self.login_base_url, self.tenant_id, self.client_id, secret_hash)

    def __repr__(self) -> str:
        # Never the secret.
        return f"GraphClient(tenant_id={self.tenant_id!r}, client_id={self.client_id!r})"

    # Users -------------------------------------------------------------------------------------

    def list_users(self, *, page_size: int = PAGE_SIZE) -> Iterator[dict]:
        """Every user of the tenant (enabled or not), following @odata.nextLink."""
        yield from self._pages(
            "/users", {"$select": ",".join(USER_FIELDS), "$top": str(page_size)}, "List users"
        )

    def list_deleted_users(self) -> Iterator[dict]:
        """Users deleted in the last 30 days (restorable), each with ``deletedDateTime``."""
        yield from self._pages(
            "/directory/deletedItems/microsoft.graph.user",
            {"$select": ",".join(DELETED_USER_FIELDS), "$top": str(PAGE_SIZE)},
            "List deleted users",
        )

    def get_user(self, user_id: str) -> dict:
        response = self._request(
            "GET", f"/users/{user_id}", what=f"Read user {user_id}", params={"$select": ",".join(USER_FIELDS)}
        )
        return _json(response)

    def revoke_sign_in_sessions(self, user_id: str) -> None:
        """Invalidate the user's refresh tokens and session cookies: they must sign in again."""
        self._request("POST", f"/users/{user_id}/revokeSignInSessions", what=f"Revoke sessions of {user_id}")

    def set_account_enabled(self, user_id: str, enabled: bool) -> None:
        verb = "Enable" if enabled else "Disable"
        self._request(
            "PATCH", f"/users/{user_id}", what=f"{verb} user {user_id}", json={"accountEnabled": enabled}
        )

    # Plumbing ----------------------------------------------------------------------------------

    def _pages(self, path: str, params: dict[str, str], what: str) -> Iterator[dict]:
        url: str | None = self.graph_base_url + path
        while url:
            body = _json(self._request("GET", url, what=what, params=params))
            yield from body.get("value") or []
            # The next link carries every query parameter (and the skip token) itself.
            url, params = body.get("@odata.nextLink"), {}

    def _request(self, method: str, path_or_url: str, *, what: str, **kwargs) -> requests.Response:
        url = (
            path_or_url
            if path_or_url.startswith(("http://", "https://"))
            else self.graph_base_url + path_or_url
        )
        token_refreshed = False
        for attempt in range(1, MAX_ATTEMPTS + 1):
            token = self._access_token()
            try:
                response = self._session.request(
                    method, url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT, **kwargs
                )
            except requests.RequestException as error:
                raise GraphError(
                    f"{what}: Microsoft Graph at {self.graph_base_url} did not answer "
                    f"({type(error).__name__}).",
                    transient=True,
                ) from error
            if response.status_code < 400:
                return response
            if response.status_code == 401 and not token_refreshed:
                # A cached token the tenant no longer accepts (revoked, or the secret changed): one
                # fresh token, then the error stands.
                self._forget_token()
                token_refreshed = True
                continue
            if response.status_code == 429 and attempt < MAX_ATTEMPTS:
                wait = _retry_after(response)
                if wait <= MAX_RETRY_AFTER:
                    logger.info("Microsoft Graph throttled %s; retrying in %.0f s", what, wait)
                    time.sleep(wait)
                    continue
            raise _graph_error(response, what)
        raise _graph_error(response, what)

    def _access_token(self) -> str:
        with _tokens_lock:
            cached = _tokens.get(self._token_key)
            if cached and cached.refresh_at > time.monotonic():
                return cached.value
        token = self._fetch_token()
        with _tokens_lock:
            _tokens[self._token_key] = token
        return token.value

    def _forget_token(self) -> None:
        with _tokens_lock:
            _tokens.pop(self._token_key, None)

    def _fetch_token(self) -> _Token:
        url = f"{self.login_base_url}/{self.tenant_id}/oauth2/v2.0/token"
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "scope": GRAPH_SCOPE,
        }
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = self._session.post(url, data=form, timeout=TIMEOUT)
            except requests.RequestException as error:
                raise GraphError(
                    f"Microsoft Entra ID's sign-in endpoint {self.login_base_url} did not answer "
                    f"({type(error).__name__}).",
                    transient=True,
                ) from error
            if (
                response.status_code == 429
                and attempt < MAX_ATTEMPTS
                and _retry_after(response) <= MAX_RETRY_AFTER
            ):
                time.sleep(_retry_after(response))
                continue
            break
        if response.status_code != 200:
            raise _token_error(response)
        body = _json(response)
        if not body.get("access_token"):
            raise GraphError("Microsoft Entra ID's token endpoint returned no access token.", status=200)
        lifetime = float(body.get("expires_in") or 0)
        # Short-lived tokens (never from Entra ID itself, which gives about an hour) last half their life.
        return _Token(
            body["access_token"], time.monotonic() + max(lifetime - TOKEN_MARGIN_SECONDS, lifetime / 2)
        )


def client_for(connection: EntraConnection) -> GraphClient:
    return GraphClient(
        tenant_id=connection.tenant_id,
        client_id=connection.client_id,
        client_secret=connection.client_secret,
        graph_base_url=connection.graph_base_url,
        login_base_url=connection.login_base_url,
    )


def graph_client() -> GraphClient | None:
    """The installation's Graph client; None when no Entra ID connection is set up and enabled."""
    connection = EntraConnection.objects.filter(pk=EntraConnection.SINGLETON_PK, enabled=True).first()
    return client_for(connection) if connection else None
