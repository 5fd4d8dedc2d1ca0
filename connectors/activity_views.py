"""Cloud apps > Activity log: filter, page, inspect, pivot, save and export activities."""

import csv
from datetime import timedelta
from urllib.parse import urlencode

import orjson
from django.contrib import messages
from django.db.models import Q
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from connectors.activity_log import keyset_page
from connectors.filters import SUGGESTED_QUERIES, ActivityFilter
from connectors.models import Activity, SavedQuery

EXPORT_COLUMNS = [
    "event_time",
    "event_name",
    "service",
    "principal_name",
    "principal",
    "principal_type",
    "source_ip",
    "country",
    "city",
    "ip_category",
    "region",
    "succeeded",
    "error_code",
    "user_agent",
    "event_id",
    "connector",
]
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _filtered(request) -> ActivityFilter:
    return ActivityFilter(request.GET or None, queryset=Activity.objects.select_related("connector"))


def activity_log(request):
    activity_filter = _filtered(request)
    page = keyset_page(activity_filter.qs, request.GET.get("cursor"))
    params = request.GET.copy()
    params.pop("cursor", None)
    filters_active = any(v for k, v in params.items() if k not in {"cursor"})
    saved = SavedQuery.objects.filter(Q(owner=request.user) | Q(shared=True))
    template = (
        "connectors/_activity_rows.html"
        if request.htmx and request.GET.get("cursor")
        else ("connectors/activity_log.html")
    )
    return render(
        request,
        template,
        {
            "title": "Activity log",
            "section": "Cloud apps",
            "filter": activity_filter,
            "page": page,
            "query": params.urlencode(),
            "filters_active": filters_active,
            "suggested": SUGGESTED_QUERIES,
            "saved_queries": saved,
            "any_activity": filters_active or bool(page.rows) or Activity.objects.exists(),
        },
    )


def activity_drawer(request, pk: int):
    activity = get_object_or_404(Activity.objects.select_related("connector"), pk=pk)
    around = {
        "start": (activity.event_time - timedelta(hours=24)).isoformat(),
        "end": (activity.event_time + timedelta(hours=24)).isoformat(),
    }
    pivots = [
        ("Same user", urlencode({"principal": activity.principal})),
        ("Same IP address", urlencode({"ip": activity.source_ip})),
        ("Same action", urlencode({"event_name": activity.event_name})),
        ("Same user, ±24 hours", urlencode({"principal": activity.principal, **around})),
        ("Everything ±24 hours", urlencode(around)),
    ]
    return render(
        request,
        "connectors/_activity_drawer.html",
        {
            "activity": activity,
            "raw": orjson.dumps(activity.raw, option=orjson.OPT_INDENT_2).decode(),
            "pivots": pivots,
            # The alerts that link this activity (a higher layer's relation, reached by name).
            "matches": activity.alerts.select_related("policy").order_by("-created_at")[:20],
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # Spreadsheets run cells starting with these as formulas: CloudTrail fields are attacker-controlled.
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def activity_export(request):
    """The whole filtered set as CSV, streamed row by row so any size fits in memory."""
    queryset = _filtered(request).qs.order_by("-event_time", "-pk")
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(EXPORT_COLUMNS)
        for activity in queryset.iterator(chunk_size=2000):
            yield writer.writerow([_cell(getattr(activity, column)) for column in EXPORT_COLUMNS])

    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="activities-{stamp}.csv"'
    return response


@require_POST
def saved_query_create(request):
    name = request.POST.get("name", "").strip()[:100]
    query = request.POST.get("query", "")[:2000]
    if not name:
        messages.error(request, "Give the query a name to save it.")
    else:
        SavedQuery.objects.update_or_create(
            owner=request.user,
            name=name,
            defaults={"query": query, "shared": request.POST.get("shared") == "on"},
        )
        messages.success(request, f"Saved the query {name}.")
    return redirect(f"{reverse('connectors:activity')}?{query}")


@require_POST
def saved_query_delete(request, pk: int):
    saved = get_object_or_404(SavedQuery, pk=pk, owner=request.user)
    saved.delete()
    messages.success(request, f"Deleted the saved query {saved.name}.")
    return redirect("connectors:activity")
