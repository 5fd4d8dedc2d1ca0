from django import forms
from django.contrib.auth import get_user_model, password_validation

from defender.roles import ROLE_DESCRIPTIONS, Role


class RoleField(forms.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(
            choices=Role.choices,
            widget=forms.RadioSelect,
            help_text=" ".join(f"{r.label}: {ROLE_DESCRIPTIONS[r]}" for r in Role),
            **kwargs,
        )


class RoleFormMixin:
    def role_label(self) -> str:
        return Role(self.cleaned_data["role"]).label


class UserCreateForm(RoleFormMixin, forms.Form):
    username = forms.CharField(label="User name", max_length=150)
    email = forms.EmailField(required=False)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    role = RoleField(initial=Role.READER)
    password = forms.CharField(widget=forms.PasswordInput, help_text="At least 10 characters.")

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("A user with this name already exists.")
        return username

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password"):
            user = get_user_model()(username=cleaned.get("username", ""), email=cleaned.get("email", ""))
            try:
                password_validation.validate_password(cleaned["password"], user)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class UserRoleForm(RoleFormMixin, forms.Form):
    role = RoleField()
