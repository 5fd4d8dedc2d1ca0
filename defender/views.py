from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django.views.generic import TemplateView

from defender import services
from defender.audit import AuditAction
from defender.forms import AuditLogFilterForm, UserCreateForm, UserRoleForm
from defender.roles import Perm, require_perm
from defender.selectors import audit_entries, user_list


class EmptyStatePage(TemplateView):
    """A page whose capability is not built yet: it says honestly what will appear here."""

    template_name = "defender/empty_state_page.html"
    title = ""
    section = ""
    icon = "info"
    empty_title = ""
    empty_text = ""

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            title=self.title,
            section=self.section,
            icon=self.icon,
            empty_title=self.empty_title,
            empty_text=self.empty_text,
            **kwargs,
        )


USER_SORTS = {
    "username",
    "-username",
    "email",
    "-email",
    "last_login",
    "-last_login",
    "date_joined",
    "-date_joined",
}


@require_perm(Perm.ADMINISTER)
def users(request):
    sort = request.GET.get("sort", "username")
    queryset = user_list(
        search=request.GET.get("q", ""),
        role=request.GET.get("role", ""),
        order_by=sort if sort in USER_SORTS else "username",
    )
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "defender/users.html",
        {
            "title": "Users and roles",
            "page": page,
            "default_sort": "username",
            "create_form": UserCreateForm(),
            "roles": services.role_choices(),
        },
    )


@require_perm(Perm.ADMINISTER)
def user_create(request):
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.user_create(by=request.user, **form.cleaned_data)
        messages.success(request, f"User {user.username} was created as {form.role_label()}.")
        return redirect("defender:users")
    return render(request, "defender/user_form.html", {"title": "Add user", "form": form})


@require_perm(Perm.ADMINISTER)
def user_edit(request, pk: int):
    target = get_object_or_404(get_user_model(), pk=pk)
    form = UserRoleForm(request.POST or None, initial={"role": services.role_of(target)})
    if request.method == "POST" and form.is_valid():
        services.user_set_role(user=target, role=form.cleaned_data["role"], by=request.user)
        messages.success(request, f"{target.username} is now {form.role_label()}.")
        return redirect("defender:users")
    return render(
        request,
        "defender/user_edit.html",
        {"title": f"Edit {target.username}", "form": form, "target": target},
    )


@require_POST
@require_perm(Perm.ADMINISTER)
def user_set_active(request, pk: int):
    target = get_object_or_404(get_user_model(), pk=pk)
    active = request.POST.get("active") == "1"
    services.user_set_active(user=target, active=active, by=request.user)
    messages.success(request, f"{target.username} was {'enabled' if active else 'disabled'}.")
    return redirect("defender:users")


@require_perm(Perm.VIEW)
def audit_log(request):
    form = AuditLogFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    page = Paginator(audit_entries(**filters), 50).get_page(request.GET.get("page"))
    labels = dict(AuditAction.choices)
    for entry in page:
        entry.action_label = labels.get(entry.action, entry.action)
    return render(request, "defender/audit_log.html", {"title": "Audit log", "form": form, "page": page})
