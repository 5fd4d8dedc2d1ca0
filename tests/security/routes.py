"""Every URL of the project, found by walking Django's URL resolver, and the minimum role each needs.

The walk means a URL added later is checked without anyone remembering to add it: the access-matrix
test fails until the new URL name is classified in ACCESS.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver, reverse

PUBLIC, SIGNED_IN, READER, OPERATOR, ADMIN = "public", "signed_in", "reader", "operator", "admin"

# Namespaces left out of the matrix, with why.
UNCHECKED_NAMESPACES = {
    # Django's admin site: only superusers/staff, checked by the admin itself (tested by Django).
    "admin",
}

# Minimum role per URL name and HTTP method: pages are read with GET, commands are POSTed (or
# PATCHed in the API). Anything below the minimum must be refused; the minimum and above must not be.
ACCESS: dict[str, dict[str, str]] = {
    "home": {"GET": READER},
    "login": {"GET": PUBLIC},
    "logout": {"POST": SIGNED_IN},
    "password_change": {"GET": SIGNED_IN},
    "password_change_done": {"GET": SIGNED_IN},
    # Settings > Users and roles, IP ranges, threat feeds, audit log
    "defender:users": {"GET": ADMIN},
    "defender:user_create": {"GET": ADMIN, "POST": ADMIN},
    "defender:user_edit": {"GET": ADMIN, "POST": ADMIN},
    "defender:user_set_active": {"POST": ADMIN},
    "defender:audit_log": {"GET": READER},
    # Settings > API tokens: each user's own (admins also see everyone's); the API's schema and docs
    "defender:api_tokens": {"GET": READER},
    "defender:api_token_create": {"GET": READER, "POST": READER},
    "defender:api_token_revoke": {"POST": READER},
    "api-schema": {"GET": READER},
    "api-docs": {"GET": READER},
    # Settings > SIEM export
    "siem:destinations": {"GET": READER},
    "siem:create": {"GET": ADMIN, "POST": ADMIN},
    "siem:edit": {"GET": ADMIN, "POST": ADMIN},
    "siem:set_enabled": {"POST": ADMIN},
    "siem:send_test": {"POST": ADMIN},
    "siem:delete": {"POST": ADMIN},
    "defender:ipranges": {"GET": READER},
    "defender:iprange_create": {"GET": ADMIN, "POST": ADMIN},
    "defender:iprange_mark": {"POST": ADMIN},
    "defender:iprange_edit": {"GET": ADMIN, "POST": ADMIN},
    "defender:iprange_delete": {"POST": ADMIN},
    "defender:threat_feeds": {"GET": READER},
    "defender:threat_feed_create": {"GET": ADMIN, "POST": ADMIN},
    "defender:threat_feed_edit": {"GET": ADMIN, "POST": ADMIN},
    "defender:threat_feed_upload": {"GET": ADMIN, "POST": ADMIN},
    "defender:threat_feed_refresh": {"POST": ADMIN},
    "defender:threat_feed_delete": {"POST": ADMIN},
    # Alerts
    "alerts:list": {"GET": READER},
    "alerts:detail": {"GET": READER},
    "alerts:bulk_assign": {"POST": OPERATOR},
    "alerts:bulk_resolve": {"POST": OPERATOR},
    "alerts:bulk_dismiss": {"POST": OPERATOR},
    "alerts:assign": {"POST": OPERATOR},
    "alerts:status": {"POST": OPERATOR},
    "alerts:resolve": {"POST": OPERATOR},
    "alerts:reopen": {"POST": OPERATOR},
    "alerts:comment": {"POST": OPERATOR},
    # Policies
    "policies:list": {"GET": READER},
    "policies:new": {"GET": OPERATOR},
    "policies:create": {"GET": OPERATOR, "POST": OPERATOR},
    "policies:import": {"GET": OPERATOR, "POST": OPERATOR},
    "policies:preview": {"POST": OPERATOR},
    "policies:detail": {"GET": READER, "POST": OPERATOR},
    "policies:history": {"GET": READER},
    "policies:set_enabled": {"POST": OPERATOR},
    "policies:delete": {"POST": OPERATOR},
    "policies:export": {"GET": READER},
    # Governance
    "governance:log": {"GET": READER},
    "governance:recent": {"GET": READER},
    "governance:run_new": {"GET": OPERATOR, "POST": OPERATOR},
    "governance:detail": {"GET": READER},
    "governance:retry": {"POST": OPERATOR},
    "governance:revert": {"POST": OPERATOR},
    "governance:alert_panel": {"GET": READER},
    # Activity log, files, accounts
    "connectors:activity": {"GET": READER},
    "connectors:activity_export": {"GET": READER},
    "connectors:activity_drawer": {"GET": READER},
    # Saved queries are each user's own: a reader may keep them too.
    "connectors:saved_query_create": {"POST": READER},
    "connectors:saved_query_delete": {"POST": READER},
    "connectors:files": {"GET": READER},
    "connectors:file_drawer": {"GET": READER},
    "connectors:files_scan": {"POST": OPERATOR},
    "connectors:accounts": {"GET": READER},
    # Settings > Connected apps, identity provider
    "connectors:apps": {"GET": READER},
    "connectors:drawer": {"GET": READER},
    "connectors:connect": {"GET": ADMIN},
    "connectors:wizard": {"GET": ADMIN, "POST": ADMIN},
    "connectors:wizard_cancel": {"POST": ADMIN},
    "connectors:connected": {"GET": ADMIN},
    "connectors:wizard_edit": {"GET": ADMIN, "POST": ADMIN},
    "connectors:wizard_edit_cancel": {"POST": ADMIN},
    "connectors:set_enabled": {"POST": ADMIN},
    "connectors:sync": {"POST": ADMIN},
    "connectors:delete": {"POST": ADMIN},
    "connectors:identity_provider": {"GET": READER},
    "connectors:directory_user_add": {"POST": ADMIN},
    "connectors:directory_import": {"POST": ADMIN},
    "connectors:directory_user_status": {"POST": ADMIN},
    "connectors:mapping_add": {"POST": ADMIN},
    "connectors:entra_save": {"POST": ADMIN},
    "connectors:entra_set_enabled": {"POST": ADMIN},
    "connectors:entra_sync": {"POST": ADMIN},
    # API /api/v1/
    "api-root": {"GET": READER},
    "connector-list": {"GET": READER, "POST": ADMIN},
    "connector-detail": {"GET": READER, "PATCH": ADMIN, "DELETE": ADMIN},
    "connector-disable": {"POST": ADMIN},
    "connector-enable": {"POST": ADMIN},
    "activity-list": {"GET": READER},
    "activity-detail": {"GET": READER},
    "bucket-list": {"GET": READER},
    "bucket-detail": {"GET": READER},
    "iprange-list": {"GET": READER, "POST": ADMIN},
    "iprange-detail": {"GET": READER, "PATCH": ADMIN, "DELETE": ADMIN},
    "policy-list": {"GET": READER, "POST": OPERATOR},
    "policy-detail": {"GET": READER, "PATCH": OPERATOR, "DELETE": OPERATOR},
    "policy-changes": {"GET": READER},
    "policy-disable": {"POST": OPERATOR},
    "policy-enable": {"POST": OPERATOR},
    "policy-preview": {"POST": OPERATOR},
    "policy-templates": {"GET": READER},
    "policy-filter-fields": {"GET": READER},
    "alert-list": {"GET": READER},
    "alert-detail": {"GET": READER, "PATCH": OPERATOR},
    "alert-bulk-resolve": {"POST": OPERATOR},
    "governance-run-list": {"GET": READER, "POST": OPERATOR},
    "governance-run-detail": {"GET": READER},
    "governance-run-retry": {"POST": OPERATOR},
    "governance-run-revert": {"POST": OPERATOR},
}

# Values for URL parameters: ids of records that do not exist (an allowed role may get a 404, a
# refused one must get its 403 before anything is looked up).
# The API answers 401/403; its documentation page is a console page that sends anonymous visitors to
# sign in.
API_PAGES = {"api/docs/"}


def _is_api(route: str) -> bool:
    return route.startswith("api/") and route not in API_PAGES


PARAMETER_VALUES = {"step": "name"}
MISSING_ID = "987654"


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str
    parameters: tuple[str, ...]
    is_api: bool

    def url(self) -> str:
        kwargs = {p: PARAMETER_VALUES.get(p, MISSING_ID) for p in self.parameters}
        return reverse(self.name, kwargs=kwargs or None)


def _parameters(pattern: URLPattern) -> tuple[str, ...]:
    route = pattern.pattern
    converters = getattr(route, "converters", None)
    if converters:
        return tuple(converters)
    return tuple(route.regex.groupindex)


@dataclass(frozen=True)
class Found:
    namespace: str
    name: str | None
    route: str
    pattern: URLPattern

    @property
    def checked(self) -> bool:
        return self.namespace.split(":")[0] not in UNCHECKED_NAMESPACES


def _walk(resolver: URLResolver, prefix: str, namespace: str) -> list[Found]:
    found = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(n for n in (namespace, entry.namespace) if n) if entry.namespace else namespace
            found.extend(_walk(entry, prefix + str(entry.pattern), inner))
        else:
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            found.append(Found(namespace, name, prefix + str(entry.pattern), entry))
    return found


def all_patterns() -> list[Found]:
    """Every URL pattern the project serves."""
    return _walk(get_resolver(), "", "")


def checked_routes() -> list[Route]:
    """One route per URL name outside UNCHECKED_NAMESPACES (DRF's format-suffix twins left out)."""
    routes: dict[str, Route] = {}
    for found in all_patterns():
        if found.name is None or not found.checked:
            continue
        parameters = _parameters(found.pattern)
        if "format" in parameters or found.name in routes:
            continue
        routes[found.name] = Route(found.name, found.route, parameters, is_api=_is_api(found.route))
    return sorted(routes.values(), key=lambda r: r.name)
