"""Settings > Identity provider: the built-in directory and principal mappings."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from connectors import directory
from connectors.models import DirectoryUser, PrincipalMapping
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


def identity_provider(request):
    search = request.GET.get("q", "").strip()
    users = DirectoryUser.objects.annotate(mapped=Count("mappings"))
    if search:
        users = users.filter(Q(email__icontains=search) | Q(display_name__icontains=search))
    page = Paginator(users.order_by("display_name", "email"), 50).get_page(request.GET.get("page"))
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
        },
    )


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
