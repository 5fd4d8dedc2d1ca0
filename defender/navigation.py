"""The console's left navigation: one definition that the shell and the browser tests share."""

from dataclasses import dataclass

from django.urls import reverse

from defender.roles import Perm, user_role


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    icon: str
    perm: str = Perm.VIEW


@dataclass(frozen=True)
class NavSection:
    label: str
    icon: str
    items: tuple[NavItem, ...]


NAVIGATION: tuple[NavItem | NavSection, ...] = (
    NavItem("Home", "home", icon="home"),
    NavSection(
        "Incidents & alerts", icon="alert", items=(NavItem("Alerts", "alerts:list", icon="alert_urgent"),)
    ),
    NavSection(
        "Cloud apps",
        icon="cloud",
        items=(
            NavItem("Activity log", "connectors:activity", icon="task_list_ltr"),
            NavItem("Policies", "policies:list", icon="shield_task"),
            NavItem("Governance log", "governance:log", icon="history"),
            NavItem("Files", "connectors:files", icon="folder"),
        ),
    ),
    NavSection("Assets", icon="server", items=(NavItem("Accounts", "connectors:accounts", icon="people"),)),
    NavSection(
        "Settings",
        icon="settings",
        items=(
            NavItem("Connected apps", "connectors:apps", icon="plug_connected"),
            NavItem("IP address ranges", "defender:ipranges", icon="globe"),
            NavItem("Identity provider", "connectors:identity_provider", icon="person_key"),
            NavItem("SIEM export", "siem:destinations", icon="arrow_export_ltr"),
            NavItem("Users and roles", "defender:users", icon="people_team", perm=Perm.ADMINISTER),
            NavItem("Audit log", "defender:audit_log", icon="document_search"),
        ),
    ),
)


def nav_items() -> list[NavItem]:
    items: list[NavItem] = []
    for entry in NAVIGATION:
        items.extend(entry.items if isinstance(entry, NavSection) else (entry,))
    return items


def _render_entry(entry: NavItem, path: str) -> dict:
    url = reverse(entry.url_name)
    active = path == url if url == "/" else path.startswith(url)
    return {"label": entry.label, "url": url, "icon": entry.icon, "active": active}


def console_context(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    sections = []
    for entry in NAVIGATION:
        if isinstance(entry, NavSection):
            items = [_render_entry(i, request.path) for i in entry.items if user.has_perm(i.perm)]
            if items:
                sections.append(
                    {
                        "label": entry.label,
                        "icon": entry.icon,
                        "items": items,
                        "open": any(i["active"] for i in items),
                    }
                )
        elif user.has_perm(entry.perm):
            sections.append({"item": _render_entry(entry, request.path)})
    role = user_role(user)
    return {
        "navigation": sections,
        "current_role": role.label if role else "No role",
        "can_operate": user.has_perm(Perm.OPERATE),
        "can_administer": user.has_perm(Perm.ADMINISTER),
    }
