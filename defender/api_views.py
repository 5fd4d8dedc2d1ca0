"""API tokens (user menu > API tokens), the OpenAPI schema and its docs page."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from defender import api_auth
from defender.roles import Perm, require_perm


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What the token is for, e.g. 'SOAR playbooks' or 'SIEM pull'."
    )
    expires_in_days = forms.TypedChoiceField(
        label="Expires",
        choices=api_auth.EXPIRY_CHOICES,
        coerce=int,
        initial=api_auth.DEFAULT_EXPIRY_DAYS,
        help_text="A token that never expires stays valid until someone revokes it.",
    )


@require_perm(Perm.VIEW)
def api_tokens(request):
    everyone = request.GET.get("scope") == "all" and request.user.has_perm(Perm.ADMINISTER)
    tokens = list(api_auth.api_tokens_for(user=request.user, everyone=everyone))
    for token in tokens:
        token.state = api_auth.api_token_state(token)
    return render(
        request,
        "defender/api_tokens.html",
        {"title": "API tokens", "tokens": tokens, "everyone": everyone},
    )


@never_cache
@require_perm(Perm.VIEW)
def api_token_create(request):
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        issued = api_auth.api_token_create(
            user=request.user,
            name=form.cleaned_data["name"],
            expires_in_days=form.cleaned_data["expires_in_days"],
        )
        # Rendered, not redirected: the secret must not travel through the session or a URL.
        return render(
            request,
            "defender/api_token_created.html",
            {"title": "API token created", "issued": issued, "token": issued.token},
        )
    return render(request, "defender/api_token_form.html", {"title": "New API token", "form": form})


@require_POST
@require_perm(Perm.VIEW)
def api_token_revoke(request, pk: int):
    token = get_object_or_404(api_auth.api_tokens_for(user=request.user, everyone=True), pk=pk)
    api_auth.api_token_revoke(token=token, by=request.user)
    messages.success(request, f"The token {token.name} was revoked; requests made with it are refused.")
    scope = "?scope=all" if token.user_id != request.user.pk else ""
    return redirect(reverse("defender:api_tokens") + scope)


schema_view = SpectacularAPIView.as_view()
# A person opening the docs without a session is sent to sign in, like on every console page; the
# schema request the page makes is then checked by the API's own role permission.
docs_view = login_required(SpectacularSwaggerView.as_view(url_name="api-schema"))
