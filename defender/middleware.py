from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.shortcuts import render

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
