"""Settings > IP address ranges: ranges, threat feeds, and "mark IP" from the activity drawer.
Everyone with a role reads; only Global administrators write."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from defender.forms import IpRangeForm, ThreatFeedForm, ThreatFeedUploadForm
from defender.ipintel import services
from defender.ipintel.selectors import feed_list, iprange_list
from defender.models import IpRange, ThreatFeed
from defender.roles import Perm, require_perm

TITLE = "IP address ranges"
SECTION = "Settings"


def _page_context(request, **extra) -> dict:
    return {"title": TITLE, "section": SECTION, "feed_count": ThreatFeed.objects.count(), **extra}


@require_perm(Perm.VIEW)
def ipranges(request):
    sort = request.GET.get("sort", "name")
    items = iprange_list(
        search=request.GET.get("q", ""), category=request.GET.get("category", ""), order_by=sort
    )
    return render(
        request,
        "defender/ipranges.html",
        _page_context(
            request,
            tab="ranges",
            page=Paginator(items, 50).get_page(request.GET.get("page")),
            default_sort="name",
            categories=IpRange.Category.choices,
            any_range=IpRange.objects.exists(),
        ),
    )


def _range_fields(form: IpRangeForm) -> dict:
    data = dict(form.cleaned_data)
    data.pop("allow_overlap", None)
    return data


def _iprange_form_page(request, iprange: IpRange | None):
    initial = IpRangeForm.initial_for(iprange) if iprange else {}
    form = IpRangeForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.iprange_save(
                iprange=iprange,
                allow_overlap=form.cleaned_data["allow_overlap"],
                by=request.user,
                **_range_fields(form),
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            verb = "updated" if iprange else "added"
            count = len(saved.cidrs)
            messages.success(
                request,
                f"Range {saved.name} was {verb} ({count} network{'s' if count != 1 else ''}). "
                "Activity ingested from now on is classified with it.",
            )
            return redirect("defender:ipranges")
    return render(
        request,
        "defender/ipranges_form.html",
        _page_context(
            request,
            title=f"Edit {iprange.name}" if iprange else "Add IP address range",
            form=form,
            iprange=iprange,
            show_allow_overlap=form.has_overlap_error() or form["allow_overlap"].value(),
        ),
    )


@require_perm(Perm.ADMINISTER)
def iprange_create(request):
    return _iprange_form_page(request, None)


@require_perm(Perm.ADMINISTER)
def iprange_edit(request, pk: int):
    return _iprange_form_page(request, get_object_or_404(IpRange, pk=pk))


@require_POST
@require_perm(Perm.ADMINISTER)
def iprange_delete(request, pk: int):
    iprange = get_object_or_404(IpRange, pk=pk)
    services.iprange_delete(iprange=iprange, by=request.user)
    messages.success(request, f"Range {iprange.name} was deleted.")
    return redirect("defender:ipranges")


@require_POST
@require_perm(Perm.ADMINISTER)
def iprange_mark(request):
    """From the activity drawer: mark one IP address as corporate or risky, then go back there."""
    ip = request.POST.get("ip", "").strip()
    try:
        iprange, added = services.iprange_mark_ip(
            ip=ip, category=request.POST.get("category", ""), by=request.user
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if added:
            messages.success(
                request,
                f"{ip} was added to {iprange.name}: activity from it is classified "
                f"{iprange.get_category_display()} from now on.",
            )
        else:
            messages.success(request, f"{ip} is already in {iprange.name}.")
    target = request.POST.get("next") or request.headers.get("referer", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("defender:ipranges")


# Threat feeds


@require_perm(Perm.VIEW)
def threat_feeds(request):
    return render(
        request,
        "defender/ipranges_feeds.html",
        _page_context(
            request,
            tab="feeds",
            feeds=feed_list(order_by=request.GET.get("sort", "name")),
            default_sort="name",
        ),
    )


def _feed_form_page(request, feed: ThreatFeed | None):
    form = ThreatFeedForm(request.POST or None, initial=ThreatFeedForm.initial_for(feed) if feed else None)
    if request.method == "POST" and form.is_valid():
        old_url = feed.url if feed else ""
        try:
            saved = services.feed_save(feed=feed, by=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            verb = "updated" if feed else "added"
            if saved.url and saved.enabled and saved.url != old_url:
                services.feed_queue_refresh(feed=saved)
                messages.success(request, f"Feed {saved.name} was {verb}; its list is being fetched.")
            elif not saved.url and not saved.entry_count:
                messages.success(request, f"Feed {saved.name} was {verb}. Upload its list.")
                return redirect("defender:threat_feed_upload", saved.pk)
            else:
                messages.success(request, f"Feed {saved.name} was {verb}.")
            return redirect("defender:threat_feeds")
    return render(
        request,
        "defender/ipranges_feed_form.html",
        _page_context(
            request, title=f"Edit {feed.name}" if feed else "Add threat feed", form=form, feed=feed
        ),
    )


@require_perm(Perm.ADMINISTER)
def threat_feed_create(request):
    return _feed_form_page(request, None)


@require_perm(Perm.ADMINISTER)
def threat_feed_edit(request, pk: int):
    return _feed_form_page(request, get_object_or_404(ThreatFeed, pk=pk))


class UploadLimitHandler(FileUploadHandler):
    """Stops reading an uploaded file once it passes the limit, instead of spooling it all to disk;
    the view then says the file was too large."""

    def __init__(self, request, limit: int):
        super().__init__(request)
        self.limit = limit
        self.received = 0

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.request.upload_too_large = True
            raise SkipFile
        return raw_data

    def file_complete(self, file_size):
        return None


@csrf_exempt  # the upload handlers must be in place before the CSRF check reads the body...
@require_perm(Perm.ADMINISTER)
def threat_feed_upload(request, pk: int):
    request.upload_handlers.insert(0, UploadLimitHandler(request, services.MAX_FEED_BYTES))
    return _threat_feed_upload(request, pk)


@csrf_protect  # ...which then runs here, as the CSRF middleware would have.
def _threat_feed_upload(request, pk: int):
    feed = get_object_or_404(ThreatFeed, pk=pk)
    if request.method == "POST":
        form = ThreatFeedUploadForm(
            request.POST, request.FILES, too_large=getattr(request, "upload_too_large", False)
        )
    else:
        form = ThreatFeedUploadForm()
    if request.method == "POST" and form.is_valid():
        try:
            result = services.feed_load(feed=feed, data=form.cleaned_data["file"].read())
        except services.FeedError as error:
            form.add_error("file", str(error))
        else:
            level = messages.WARNING if result.bad_count else messages.SUCCESS
            messages.add_message(request, level, f"{feed.name}: {result.summary()}")
            return redirect("defender:threat_feeds")
    return render(
        request,
        "defender/ipranges_feed_upload.html",
        _page_context(request, title=f"Upload list to {feed.name}", form=form, feed=feed),
    )


@require_POST
@require_perm(Perm.ADMINISTER)
def threat_feed_refresh(request, pk: int):
    feed = get_object_or_404(ThreatFeed, pk=pk)
    if not feed.url:
        messages.error(request, f"{feed.name} has no URL: upload its list instead.")
    elif not feed.enabled:
        messages.error(request, f"{feed.name} is disabled: enable it before refreshing.")
    else:
        services.feed_queue_refresh(feed=feed)
        messages.success(request, f"A refresh of {feed.name} was queued; reload the page to see the result.")
    return redirect("defender:threat_feeds")


@require_POST
@require_perm(Perm.ADMINISTER)
def threat_feed_delete(request, pk: int):
    feed = get_object_or_404(ThreatFeed, pk=pk)
    services.feed_delete(feed=feed, by=request.user)
    messages.success(request, f"Feed {feed.name} and its {feed.entry_count:,} entries were deleted.")
    return redirect("defender:threat_feeds")
