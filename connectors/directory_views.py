"""Settings > Identity provider: the Entra ID connection, the directory and principal mappings."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from connectors import directory, entra_sync
from connectors.forms import EntraConnectionForm
from connectors.models import DirectoryUser, EntraConnection, PrincipalMapping
from defender.roles import Perm, require_perm


class DirectoryUserForm(forms.ModelForm):
    class Meta:
        model = DirectoryUser
        fields = ["email", "display_name"]


class MappingForm(forms.Form):
    principal = forms.CharField(
        label="AWS principal",
        max_length=512,
        help_text="Its key as shown in the activity log, e.g. arn:aws:iam::123456789012:user/ci",
    )
    email = forms.EmailField(label="Directory user's email")


def _entra_form(connection: EntraConnection | None, data=None) -> EntraConnectionForm:
    initial = {}
    if connection:
        initial = {
            "tenant_id": connection.tenant_id,
            "client_id": connection.client_id,
            "graph_base_url": connection.graph_base_url,
            "login_base_url": connection.login_base_url,
        }
    return EntraConnectionForm(
        data, initial=initial, secret_stored=bool(connection and connection.client_secret_encrypted)
    )


def _page(request, *, entra_form: EntraConnectionForm | None = None, entra_test=None):
    search = request.GET.get("q", "").strip()
    users = DirectoryUser.objects.annotate(mapped=Count("mappings"))
    if search:
        users = users.filter(Q(email__icontains=search) | Q(display_name__icontains=search))
    page = Paginator(users.order_by("display_name", "email"), 50).get_page(request.GET.get("page"))
    connection = entra_sync.entra_connection()
    return render(
        request,
        "connectors/identity_provider.html",
        {
            "title": "Identity provider",
            "section": "Settings",
            "page": page,
            "mappings": PrincipalMapping.objects.select_related("directory_user").order_by("principal")[:200],
            "user_form": DirectoryUserForm(),
            "mapping_form": MappingForm(),
            "terminated": DirectoryUser.objects.filter(status=DirectoryUser.Status.TERMINATED).count(),
            "from_entra": DirectoryUser.objects.filter(source=DirectoryUser.Source.ENTRA_ID).count(),
            "entra": connection,
            "entra_form": entra_form or _entra_form(connection),
            "entra_test": entra_test,
            "sync_minutes": settings.IDENTITY_SYNC_MINUTES,
        },
    )


def identity_provider(request):
    return _page(request)


def _test_result(request, result):
    return render(request, "connectors/_entra_test_result.html", {"entra_test": result})


@require_POST
@require_perm(Perm.ADMINISTER)
def entra_save(request):
    """Save (or, with action=test, only test) the Entra ID settings; the secret is never echoed."""
    connection = entra_sync.entra_connection()
    form = _entra_form(connection, request.POST)
    testing = request.POST.get("action") == "test"
    if not form.is_valid():
        if testing and request.htmx:
            problems = " ".join(
                f"{form[name].label}: {' '.join(errors)}" for name, errors in form.errors.items()
            )
            return _test_result(request, entra_sync.ConnectionTest(False, problems))
        return _page(request, entra_form=form)
    data = form.cleaned_data
    config = entra_sync.EntraSettings(
        tenant_id=data["tenant_id"],
        client_id=data["client_id"],
        client_secret=data["client_secret"],
        graph_base_url=data.get("graph_base_url")
        or (connection.graph_base_url if connection else EntraConnection.DEFAULT_GRAPH_BASE_URL),
        login_base_url=data.get("login_base_url")
        or (connection.login_base_url if connection else EntraConnection.DEFAULT_LOGIN_BASE_URL),
    )
    if testing:
        result = entra_sync.entra_connection_test(config=config)
        # In place, so the secret just typed stays in its field (the page never renders it back).
        if request.htmx:
            return _test_result(request, result)
        return _page(request, entra_form=form, entra_test=result)
    try:
        entra_sync.entra_connection_save(config=config, by=request.user)
    except entra_sync.EntraConnectionError as error:
        form.add_error(None, f"Not saved: {error}")
        return _page(request, entra_form=form)
    messages.success(request, "Microsoft Entra ID is connected: a sync of its users was queued.")
    return redirect("connectors:identity_provider")


@require_POST
@require_perm(Perm.ADMINISTER)
def entra_set_enabled(request):
    connection = get_object_or_404(EntraConnection, pk=EntraConnection.SINGLETON_PK)
    enabled = request.POST.get("enabled") == "true"
    entra_sync.entra_connection_set_enabled(connection=connection, enabled=enabled, by=request.user)
    if enabled:
        messages.success(request, "Entra ID sync is enabled: a sync was queued.")
    else:
        messages.success(request, "Entra ID sync is disabled: the directory keeps its users as they are.")
    return redirect("connectors:identity_provider")


@require_POST
@require_perm(Perm.ADMINISTER)
def entra_sync_now(request):
    connection = get_object_or_404(EntraConnection, pk=EntraConnection.SINGLETON_PK)
    if not connection.enabled:
        messages.error(request, "Entra ID sync is disabled: enable it first.")
    else:
        entra_sync.entra_sync_request()
        messages.success(request, "A sync of Entra ID users was queued.")
    return redirect("connectors:identity_provider")


@require_POST
@require_perm(Perm.ADMINISTER)
def directory_user_add(request):
    form = DirectoryUserForm(request.POST)
    if form.is_valid():
        user = form.save(commit=False)
        user.created_by = user.modified_by = request.user
        user.save()
        messages.success(request, f"{user.email} was added to the directory.")
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("connectors:identity_provider")


@require_POST
@require_perm(Perm.ADMINISTER)
def directory_import(request):
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(
            request, "Choose a CSV file with the columns email, display name, status, terminated at."
        )
        return redirect("connectors:identity_provider")
    if upload.size > directory.MAX_CSV_BYTES:
        messages.error(
            request, f"The file is {upload.size:,} bytes; the limit is {directory.MAX_CSV_BYTES:,}."
        )
        return redirect("connectors:identity_provider")
    try:
        result = directory.directory_import_csv(data=upload.read(), by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("connectors:identity_provider")
    messages.success(request, f"Imported {result.created} new and {result.updated} updated users.")
    for problem in result.errors[:10]:
        messages.warning(request, problem)
    return redirect("connectors:identity_provider")


@require_POST
@require_perm(Perm.ADMINISTER)
def directory_user_status(request, pk: int):
    user = get_object_or_404(DirectoryUser, pk=pk)
    if request.POST.get("status") == DirectoryUser.Status.TERMINATED:
        directory.directory_user_terminate(user=user, when=timezone.now(), by=request.user)
        messages.success(
            request, f"{user.email} is terminated: activity of their AWS principals now raises alerts."
        )
    else:
        directory.directory_user_reinstate(user=user, by=request.user)
        messages.success(request, f"{user.email} is active again.")
    return redirect("connectors:identity_provider")


@require_POST
@require_perm(Perm.ADMINISTER)
def mapping_add(request):
    form = MappingForm(request.POST)
    if form.is_valid():
        try:
            directory.principal_mapping_save(by=request.user, **form.cleaned_data)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(
                request, f"{form.cleaned_data['principal']} maps to {form.cleaned_data['email']}."
            )
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("connectors:identity_provider")
