"""Settings > SIEM export. Everyone with a role reads; only Global administrators change anything."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from defender.roles import Perm, require_perm
from siem import selectors, services
from siem.forms import DestinationForm
from siem.models import SiemDestination
from siem.transports import DeliveryFailed

TITLE = "SIEM export"
SECTION = "Settings"


@require_perm(Perm.VIEW)
def destinations(request):
    return render(
        request,
        "siem/destinations.html",
        {"title": TITLE, "section": SECTION, "destinations": selectors.destination_list()},
    )


def _form_page(request, destination: SiemDestination | None):
    initial = DestinationForm.initial_for(destination) if destination else {}
    form = DestinationForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.destination_save(
                config=form.settings(), by=request.user, destination=destination
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            if destination:
                messages.success(request, f"Destination {saved.name} was saved.")
            else:
                messages.success(
                    request,
                    f"Destination {saved.name} was added. It receives what happens from now on; "
                    "send a test message to check the connection.",
                )
            return redirect("siem:destinations")
    return render(
        request,
        "siem/destination_form.html",
        {
            "title": f"Edit {destination.name}" if destination else "Add SIEM destination",
            "section": SECTION,
            "form": form,
            "destination": destination,
        },
    )


@require_perm(Perm.ADMINISTER)
def destination_create(request):
    return _form_page(request, None)


@require_perm(Perm.ADMINISTER)
def destination_edit(request, pk: int):
    return _form_page(request, get_object_or_404(SiemDestination, pk=pk))


@require_POST
@require_perm(Perm.ADMINISTER)
def destination_set_enabled(request, pk: int):
    destination = get_object_or_404(SiemDestination, pk=pk)
    enabled = request.POST.get("enabled") == "1"
    services.destination_set_enabled(destination=destination, enabled=enabled, by=request.user)
    if enabled:
        messages.success(request, f"{destination.name} is enabled: it continues from where it stopped.")
    else:
        messages.success(
            request, f"{destination.name} is paused. What happens meanwhile is sent when it is enabled."
        )
    return redirect("siem:destinations")


@require_POST
@require_perm(Perm.ADMINISTER)
def destination_send_test(request, pk: int):
    destination = get_object_or_404(SiemDestination, pk=pk)
    try:
        services.destination_send_test(destination=destination, by=request.user)
    except DeliveryFailed as error:
        messages.error(request, f"The test message to {destination.name} failed: {error}")
    else:
        messages.success(request, f"A test message was sent to {destination.name} ({destination.target}).")
    return redirect("siem:destinations")


@require_POST
@require_perm(Perm.ADMINISTER)
def destination_delete(request, pk: int):
    destination = get_object_or_404(SiemDestination, pk=pk)
    services.destination_delete(destination=destination)
    messages.success(request, f"Destination {destination.name} was deleted.")
    return redirect("siem:destinations")
