"""Sign-in with brute-force protection.

After LOGIN_FAILURE_LIMIT failed sign-ins for one user name from one IP address, that pair is refused
for LOGIN_LOCKOUT_MINUTES after the last failure, with a message that says so. Failures are counted
from the audit log's sign-in entries rather than a cache: the count then holds across every web
process and machine without a shared cache, and each lockout decision can be traced in the log.
(django-axes would add its own models, middleware and authentication backend for the same rule.)

Locking the pair, not the account, keeps an attacker from locking a real user out from elsewhere.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils import timezone

from defender.audit import AuditAction, audit_record, client_ip
from defender.models import AuditEntry


def sign_in_locked_until(*, username: str, ip: str | None) -> datetime | None:
    """When the user name may be tried again from ``ip``, or None if it is not locked."""
    now = timezone.now()
    window = timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
    entries = AuditEntry.objects.filter(actor_name=username, ip=ip, at__gte=now - window)
    last_success = (
        entries.filter(action=AuditAction.SIGN_IN).order_by("-at").values_list("at", flat=True).first()
    )
    failures = entries.filter(action=AuditAction.SIGN_IN_FAILED)
    if last_success is not None:
        failures = failures.filter(at__gt=last_success)
    recent = list(failures.order_by("-at").values_list("at", flat=True)[: settings.LOGIN_FAILURE_LIMIT])
    if len(recent) < settings.LOGIN_FAILURE_LIMIT:
        return None
    return recent[0] + window


class LockoutAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": "Too many failed sign-ins for this user name from your network address. "
        "Try again in %(minutes)s minutes, or ask a Global administrator to check the account.",
    }

    def clean(self):
        username = self.cleaned_data.get("username")
        if username and self.data.get("password"):
            ip = client_ip(self.request)
            locked_until = sign_in_locked_until(username=username, ip=ip)
            if locked_until is not None:
                audit_record(action=AuditAction.SIGN_IN_BLOCKED, target=username, actor_name=username)
                minutes = max(1, math.ceil((locked_until - timezone.now()).total_seconds() / 60))
                raise ValidationError(
                    self.error_messages["locked"], code="locked", params={"minutes": minutes}
                )
        return super().clean()


class LoginView(auth_views.LoginView):
    form_class = LockoutAuthenticationForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = context["form"]
        context["locked_message"] = next(
            (e.message % e.params for e in form.non_field_errors().as_data() if e.code == "locked"), ""
        )
        return context
