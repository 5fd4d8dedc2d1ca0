"""A local Microsoft Graph and Entra ID token endpoint, for tests and the demo (never the product).

It speaks the real requests and responses of what the portal uses, on one loopback port:

- ``POST /{tenant}/oauth2/v2.0/token``: client credentials; a wrong tenant, client ID, secret, scope
  or grant type gets Entra ID's error (``{"error", "error_description", "error_codes"}`` with the
  AADSTS code and HTTP 400/401).
- ``GET /v1.0/users`` with ``$select`` and ``$top`` (capped at ``max_page_size``), paged by
  ``@odata.nextLink`` with a ``$skiptoken``; ``GET /v1.0/users/{id}``; ``PATCH /v1.0/users/{id}``
  (204); ``POST /v1.0/users/{id}/revokeSignInSessions`` (``{"value": true}``);
  ``GET /v1.0/directory/deletedItems/microsoft.graph.user`` (deleted users keep their id and get
  ``deletedDateTime``; their userPrincipalName is prefixed with the id without dashes, as in Entra).
- Without a bearer token, or with one it did not issue or that expired: 401 InvalidAuthenticationToken.
- Errors in Graph's shape ``{"error": {"code", "message", "innerError"}}``.
- ``fail_next(status, ...)``: the next Graph requests fail, e.g. 429 with Retry-After, or 503.

``python -m localaws.graph --directory directory.csv ...`` serves it on its own (the demo's tenant):
the directory's people become users, its terminated ones deleted users at their termination time.
"""

from __future__ import annotations

import argparse
import csv
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
DEFAULT_FIELDS = ("id", "displayName", "mail", "userPrincipalName", "givenName", "surname", "jobTitle")


@dataclass
class Fault:
    status: int
    retry_after: int | None
    remaining: int


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGraph:
    """The fake, served by a thread of this process. ``users`` and ``deleted_users`` are dicts of
    Graph user objects by id; ``requests`` lists every request as (method, path, body) with the
    path without its query and the body parsed (JSON, or the token endpoint's form)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tenant_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        token_lifetime: int = 3599,
        max_page_size: int = 100,
    ) -> None:
        self.host = host
        self.port = port
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.client_id = client_id or str(uuid.uuid4())
        self.client_secret = client_secret or f"Qx8~{secrets.token_urlsafe(27)}"
        self.token_lifetime = token_lifetime
        self.max_page_size = max_page_size
        self.users: dict[str, dict[str, Any]] = {}
        self.deleted_users: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self._tokens: dict[str, float] = {}
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Addresses ---------------------------------------------------------------------------------

    @property
    def login_url(self) -> str:
        if self._server is None:
            raise RuntimeError("The fake Graph is not running: call start() first.")
        host = "127.0.0.1" if self.host in {"0.0.0.0", "", "::"} else self.host
        return f"http://{host}:{self._server.server_port}"

    @property
    def base_url(self) -> str:
        return f"{self.login_url}/v1.0"

    # Life cycle --------------------------------------------------------------------------------

    def start(self) -> FakeGraph:
        fake = self

        class Handler(_Handler):
            graph = fake

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-graph", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reset(self) -> None:
        """No users, requests, tokens or faults."""
        with self._lock:
            self.users.clear()
            self.deleted_users.clear()
            self.requests.clear()
            self._tokens.clear()
            self._faults.clear()

    # Directory ---------------------------------------------------------------------------------

    def add_user(
        self,
        display_name: str,
        mail: str | None = None,
        *,
        user_principal_name: str | None = None,
        account_enabled: bool = True,
        user_id: str | None = None,
        **properties: Any,
    ) -> dict[str, Any]:
        """A user as Graph returns it; the UPN defaults to the mail."""
        user_id = user_id or str(uuid.uuid4())
        given, _, surname = display_name.partition(" ")
        user = {
            "id": user_id,
            "displayName": display_name,
            "givenName": given,
            "surname": surname or None,
            "mail": mail,
            "userPrincipalName": user_principal_name or mail or f"{user_id}@fake.onmicrosoft.com",
            "jobTitle": None,
            "accountEnabled": account_enabled,
            **properties,
        }
        with self._lock:
            self.users[user_id] = user
        return user

    def delete_user(self, user_id: str, when: str | None = None) -> dict[str, Any]:
        """Move a user to deleted items, as Entra ID's soft delete does."""
        with self._lock:
            user = self.users.pop(user_id)
            user["userPrincipalName"] = user_id.replace("-", "") + user["userPrincipalName"]
            user["deletedDateTime"] = when or _now()
            self.deleted_users[user_id] = user
        return user

    def fail_next(self, status: int, *, times: int = 1, retry_after: int | None = None) -> None:
        """The next ``times`` Graph requests (not the token endpoint) fail with ``status``."""
        with self._lock:
            self._faults.append(Fault(status, retry_after, times))

    def graph_requests(self, method: str | None = None) -> list[tuple[str, str, Any]]:
        """The requests to Graph (not to the token endpoint), optionally of one method."""
        return [r for r in self.requests if r[1].startswith("/v1.0/") and (method is None or r[0] == method)]

    def token_requests(self) -> list[tuple[str, str, Any]]:
        return [r for r in self.requests if r[1].endswith("/oauth2/v2.0/token")]

    # Called by the handler ---------------------------------------------------------------------

    def _take_fault(self) -> Fault | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.pop(0)
            return fault

    def _issue_token(self) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_lifetime
        return token

    def _token_state(self, token: str) -> str:
        with self._lock:
            expires = self._tokens.get(token)
        if expires is None:
            return "unknown"
        return "valid" if expires > time.monotonic() else "expired"


class _Handler(BaseHTTPRequestHandler):
    graph: FakeGraph
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # Plumbing ----------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: dict | None = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; odata.metadata=minimal; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _graph_error(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        inner = {"date": _now(), "request-id": str(uuid.uuid4()), "client-request-id": str(uuid.uuid4())}
        self._send(status, {"error": {"code": code, "message": message, "innerError": inner}}, headers)

    def _token_error(self, status: int, error: str, code: int, description: str) -> None:
        trace = f"\r\nTrace ID: {uuid.uuid4()}\r\nCorrelation ID: {uuid.uuid4()}\r\nTimestamp: {_now()}"
        self._send(
            status,
            {
                "error": error,
                "error_description": f"AADSTS{code}: {description}{trace}",
                "error_codes": [code],
                "timestamp": _now(),
                "trace_id": str(uuid.uuid4()),
                "correlation_id": str(uuid.uuid4()),
                "error_uri": f"https://login.microsoftonline.com/error?code={code}",
            },
        )

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        raw = self._read_body()
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        if url.path.endswith("/oauth2/v2.0/token") and method == "POST":
            form = {key: values[-1] for key, values in parse_qs(raw.decode()).items()}
            with self.graph._lock:
                self.graph.requests.append((method, url.path, form))
            self._token(url.path.split("/")[1], form)
            return
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        with self.graph._lock:
            self.graph.requests.append((method, url.path, body))
        if not url.path.startswith("/v1.0/"):
            self._graph_error(400, "BadRequest", f"Invalid version: {url.path.split('/')[1]}")
            return
        if not self._authorized():
            return
        fault = self.graph._take_fault()
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            if fault.status == 429:
                self._graph_error(429, "TooManyRequests", "Too many requests.", headers)
            else:
                phrase = HTTPStatus(fault.status).phrase
                self._graph_error(fault.status, "serviceNotAvailable", f"{phrase}.", headers)
            return
        self._graph(method, url.path.removeprefix("/v1.0"), query, body)

    # Token endpoint ----------------------------------------------------------------------------

    def _token(self, tenant: str, form: dict[str, str]) -> None:
        graph = self.graph
        if tenant != graph.tenant_id:
            self._token_error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
                "are signing into the correct cloud.",
            )
        elif form.get("grant_type") != "client_credentials":
            self._token_error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        elif form.get("client_id") != graph.client_id:
            self._token_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id', '')}' was not found in the directory "
                f"'{tenant}'.",
            )
        elif form.get("client_secret") != graph.client_secret:
            self._token_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                f"secret value, not the client secret ID, for a secret added to app '{graph.client_id}'.",
            )
        elif form.get("scope") != GRAPH_SCOPE:
            self._token_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {form.get('scope', '')} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier.",
            )
        else:
            lifetime = graph.token_lifetime
            self._send(
                200,
                {
                    "token_type": "Bearer",
                    "expires_in": lifetime,
                    "ext_expires_in": lifetime,
                    "access_token": graph._issue_token(),
                },
            )

    # Graph -------------------------------------------------------------------------------------

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Bearer ") or not header[7:].strip():
            self._graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
            return False
        state = self.graph._token_state(header[7:].strip())
        if state == "unknown":
            self._graph_error(401, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed.")
            return False
        if state == "expired":
            self._graph_error(
                401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
            )
            return False
        return True

    def _graph(self, method: str, path: str, query: dict[str, str], body: Any) -> None:
        parts = [part for part in path.split("/") if part]
        graph = self.graph
        if parts == ["users"] and method == "GET":
            with graph._lock:
                users = list(graph.users.values())
            self._page(path, users, query)
        elif parts == ["directory", "deletedItems", "microsoft.graph.user"] and method == "GET":
            with graph._lock:
                users = list(graph.deleted_users.values())
            self._page(path, users, query)
        elif len(parts) == 2 and parts[0] == "users":
            self._user(method, parts[1], query, body)
        elif (
            len(parts) == 3
            and parts[0] == "users"
            and parts[2] == "revokeSignInSessions"
            and method == "POST"
        ):
            if self._existing(parts[1]) is not None:
                self._send(
                    200,
                    {"@odata.context": f"{graph.base_url}/$metadata#Edm.Boolean", "value": True},
                )
        else:
            self._graph_error(
                400, "BadRequest", f"Resource not found for the segment '{parts[-1] if parts else ''}'."
            )

    def _existing(self, user_id: str) -> dict | None:
        with self.graph._lock:
            user = self.graph.users.get(user_id)
        if user is None:
            self._graph_error(
                404,
                "Request_ResourceNotFound",
                f"Resource '{user_id}' does not exist or one of its queried reference-property objects "
                "are not present.",
            )
        return user

    def _user(self, method: str, user_id: str, query: dict[str, str], body: Any) -> None:
        user = self._existing(user_id)
        if user is None:
            return
        if method == "GET":
            self._send(
                200,
                {"@odata.context": f"{self.graph.base_url}/$metadata#users/$entity", **_select(user, query)},
            )
        elif method == "PATCH":
            if not isinstance(body, dict):
                self._graph_error(400, "BadRequest", "Empty Payload. JSON content expected.")
                return
            writable = {"accountEnabled", "displayName", "jobTitle", "mail"}
            unknown = sorted(set(body) - writable)
            if unknown:
                self._graph_error(400, "Request_BadRequest", f"Invalid property '{unknown[0]}'.")
                return
            with self.graph._lock:
                user.update(body)
            self._send(204)
        else:
            self._graph_error(405, "Request_BadRequest", f"Method {method} is not allowed here.")

    def _page(self, path: str, items: list[dict], query: dict[str, str]) -> None:
        try:
            top = int(query.get("$top") or self.graph.max_page_size)
            skip = int(query.get("$skiptoken") or 0)
        except ValueError:
            self._graph_error(400, "Request_BadRequest", "Invalid $top or $skiptoken value.")
            return
        if not 1 <= top <= 999:
            self._graph_error(
                400,
                "Request_BadRequest",
                f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive.",
            )
            return
        size = min(top, self.graph.max_page_size)
        page = items[skip : skip + size]
        context = "users" if path == "/users" else "directoryObjects"
        body: dict[str, Any] = {
            "@odata.context": f"{self.graph.base_url}/$metadata#{context}",
            "value": [_select(item, query) for item in page],
        }
        if skip + size < len(items):
            params = {k: v for k, v in query.items() if k != "$skiptoken"}
            params["$skiptoken"] = str(skip + size)
            body["@odata.nextLink"] = f"{self.graph.base_url}{path}?{urlencode(params, safe='$,')}"
        self._send(200, body)


def _select(user: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    """The properties asked for by $select (Graph's default set without it); id always."""
    fields = (
        [f.strip() for f in query["$select"].split(",") if f.strip()]
        if query.get("$select")
        else DEFAULT_FIELDS
    )
    if "deletedDateTime" in user and "deletedDateTime" not in fields and not query.get("$select"):
        fields = [*fields, "deletedDateTime"]
    return {"id": user["id"], **{field: user.get(field) for field in fields}}


def load_directory_csv(graph: FakeGraph, path: Path) -> int:
    """The users of a directory CSV (email, display_name, status, terminated_at: what the scenarios
    write): active people as users, terminated ones as deleted users at their termination time, as
    Entra ID keeps them for 30 days. Returns how many."""
    count = 0
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            email = (row.get("email") or "").strip()
            if not email:
                continue
            user = graph.add_user((row.get("display_name") or "").strip() or email, email)
            if (row.get("status") or "").strip().lower() == "terminated":
                graph.delete_user(user["id"], when=(row.get("terminated_at") or "").strip() or None)
            count += 1
    return count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the fake Microsoft Graph and Entra ID sign-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--tenant-id", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--directory", type=Path, help="A directory CSV whose people become the users.")
    args = parser.parse_args(argv)
    graph = FakeGraph(
        args.host,
        args.port,
        tenant_id=args.tenant_id,
        client_id=args.client_id,
        client_secret=args.client_secret,
    )
    users = load_directory_csv(graph, args.directory) if args.directory else 0
    graph.start()
    print(
        f"Fake Microsoft Graph listening on {graph.login_url}: tenant {graph.tenant_id}, {users} users",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        graph.stop()


if __name__ == "__main__":
    main()
