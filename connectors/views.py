from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from connectors import services
from connectors.models import Connector
from connectors.selectors import activity_summary, backfill_progress, connector_list, iam_user_list
from defender.roles import Perm, require_perm


def connected_apps(request):
    connectors = list(connector_list(sort=request.GET.get("sort", "name")))
    progress = backfill_progress(connectors)
    for connector in connectors:
        connector.import_progress = progress.get(connector.pk)
    return render(
        request,
        "connectors/connected_apps.html",
        {"title": "Connected apps", "section": "Settings", "connectors": connectors, "default_sort": "name"},
    )


def accounts(request):
    page = Paginator(
        iam_user_list(
            search=request.GET.get("q", ""),
            connector_id=request.GET.get("connector", ""),
            sort=request.GET.get("sort", "user_name"),
        ),
        50,
    ).get_page(request.GET.get("page"))
    summary = activity_summary([user.arn for user in page])
    for user in page:
        user.activity = summary.get(user.arn, {})
    return render(
        request,
        "connectors/accounts.html",
        {
            "title": "Accounts",
            "section": "Assets",
            "page": page,
            "default_sort": "user_name",
            "connectors": Connector.objects.order_by("name"),
        },
    )


def connector_drawer(request, pk: int):
    connector = get_object_or_404(Connector, pk=pk)
    return render(
        request,
        "connectors/_connector_drawer.html",
        {"connector": connector, "events": connector.events.select_related("actor")[:20]},
    )


@require_POST
@require_perm(Perm.ADMINISTER)
def connector_set_enabled(request, pk: int):
    connector = get_object_or_404(Connector, pk=pk)
    enabled = request.POST.get("enabled") == "1"
    services.connector_set_enabled(connector=connector, enabled=enabled, by=request.user)
    messages.success(request, f"{connector.name} was {'enabled' if enabled else 'disabled'}.")
    return redirect("connectors:apps")


@require_POST
@require_perm(Perm.ADMINISTER)
def connector_sync(request, pk: int):
    connector = get_object_or_404(Connector, pk=pk)
    if not connector.is_enabled:
        messages.error(request, f"{connector.name} is disabled: enable it before syncing.")
    else:
        services.connector_sync(connector=connector)
        messages.success(request, f"A sync of {connector.name} was queued: credentials and new activity.")
    return redirect("connectors:apps")


@require_POST
@require_perm(Perm.ADMINISTER)
def connector_delete(request, pk: int):
    connector = get_object_or_404(Connector, pk=pk)
    name = connector.name
    services.connector_delete(connector=connector, by=request.user)
    messages.success(request, f"{name} was deleted.")
    return redirect("connectors:apps")
