"""Cloud apps > Files: the S3 buckets of the connected accounts, their access level and why."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from connectors.buckets import bucket_list, bucket_open_alerts, bucket_regions, buckets_scan_request
from connectors.models import Bucket, Connector
from defender.roles import Perm, require_perm


def files(request):
    page = Paginator(
        bucket_list(
            search=request.GET.get("q", "").strip(),
            connector_id=request.GET.get("connector", ""),
            access=request.GET.get("access", ""),
            region=request.GET.get("region", ""),
            sort=request.GET.get("sort", "name"),
        ),
        50,
    ).get_page(request.GET.get("page"))
    open_alerts = bucket_open_alerts(page)
    for bucket in page:
        bucket.open_alert_ids = open_alerts.get(bucket.alert_group_key, [])
    filtered = any(request.GET.get(name) for name in ("q", "connector", "access", "region"))
    return render(
        request,
        "connectors/files.html",
        {
            "title": "Files",
            "section": "Cloud apps",
            "page": page,
            "default_sort": "name",
            "filtered": filtered,
            "connectors": Connector.objects.order_by("name"),
            "regions": bucket_regions(),
            "access_levels": Bucket.Access.choices,
            "public_count": Bucket.objects.filter(access=Bucket.Access.PUBLIC).count(),
        },
    )


def file_drawer(request, pk: int):
    bucket = get_object_or_404(Bucket.objects.select_related("connector"), pk=pk)
    bucket.open_alert_ids = bucket_open_alerts([bucket]).get(bucket.alert_group_key, [])
    return render(request, "connectors/_file_drawer.html", {"bucket": bucket})


@require_POST
@require_perm(Perm.OPERATE)
def files_scan(request):
    connector = request.POST.get("connector", "")
    queued = buckets_scan_request(connector_id=int(connector) if connector.isdigit() else None)
    if queued:
        messages.success(
            request, f"A bucket scan of {queued} connected account{'s' if queued != 1 else ''} was queued."
        )
    else:
        messages.error(request, "No connected AWS account to scan: connect one in Settings > Connected apps.")
    return redirect("connectors:files")
