from django.conf import settings
from django.contrib import messages
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.utils.http import url_has_allowed_host_and_scheme

from defender.audit import audit_ip, client_ip
from defender.roles import Perm

# Pages a signed-in user without a role may still reach: signing out, the admin site (its own
# checks), and the API (DRF checks roles itself and answers in JSON).
OPEN_TO_ANY_SIGNED_IN_USER = ("/accounts/", "/admin/", "/api/", "/static/")


class RoleRequiredMiddleware:
    """A signed-in account without a console role sees no console page (it gets a clear 403)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if (
            user.is_authenticated
            and getattr(view_func, "login_required", True)
            and not request.path.startswith(OPEN_TO_ANY_SIGNED_IN_USER)
            and not user.has_perm(Perm.VIEW)
        ):
            return render(request, "403.html", {"title": "No role assigned", "no_role": True}, status=403)
        return None


class ConsoleLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every page needs a signed-in user. The API answers 401/403 in JSON itself, never a redirect."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class AuditContextMiddleware:
    """Makes the request's IP available to ``defender.audit.audit_record`` for the whole request, so
    services record it without being handed the request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with audit_ip(client_ip(request)):
            return self.get_response(request)


# The body carries the form's other fields and the multipart framing besides the file: room for them,
# so that a file just over a form's own limit still reaches the form, which says what is wrong in place.
MULTIPART_ALLOWANCE = 64 * 1024


class UploadSizeLimitMiddleware:
    """Refuses any request body over UPLOAD_MAX_BYTES (every file upload: credentials CSV, directory
    CSV, threat feed, policy import, and any added later) before a byte of it is read, with a message
    that says the limit. Forms and API requests without files stay under Django's own
    DATA_UPLOAD_MAX_MEMORY_SIZE."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.UPLOAD_MAX_BYTES
        if length <= limit + MULTIPART_ALLOWANCE:
            return self.get_response(request)
        message = (
            f"The upload is too large ({filesizeformat(length)}). The largest file accepted is "
            f"{filesizeformat(limit)}."
        )
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message}, status=413)
        messages.error(request, message)
        referer = request.META.get("HTTP_REFERER", "")
        back = referer if url_has_allowed_host_and_scheme(referer, {request.get_host()}) else request.path
        return redirect(back)
