from django import forms
from django.contrib.auth import get_user_model, password_validation

from defender.audit import AuditAction
from defender.ipintel.services import MAX_FEED_BYTES
from defender.models import IpRange, ThreatFeed
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


class ServiceErrorsMixin:
    """Attach a service's ValidationError to the fields it names (or to the form)."""

    def add_service_errors(self, error: forms.ValidationError) -> None:
        if hasattr(error, "error_dict"):
            for field, errors in error.error_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            self.add_error(None, error)


class IpRangeForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=128)
    category = forms.ChoiceField(choices=IpRange.Category.choices)
    cidrs = forms.CharField(
        label="IP addresses and networks",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "mono"}),
        help_text="One per line, IPv4 or IPv6: 203.0.113.0/24, 2001:db8::/48, or a single address.",
    )
    tags = forms.CharField(required=False, max_length=1000, help_text="Separate tags with commas.")
    country = forms.CharField(
        label="Country", required=False, max_length=2, help_text="Two-letter ISO code, e.g. GB."
    )
    city = forms.CharField(required=False, max_length=128)
    latitude = forms.FloatField(required=False)
    longitude = forms.FloatField(required=False)
    isp = forms.CharField(label="ISP", required=False, max_length=256)
    allow_overlap = forms.BooleanField(
        label="Save anyway: for addresses in both ranges, the more specific range applies",
        required=False,
    )

    @classmethod
    def initial_for(cls, iprange: IpRange) -> dict:
        return {
            "name": iprange.name,
            "category": iprange.category,
            "cidrs": "\n".join(iprange.cidrs),
            "tags": ", ".join(iprange.tags),
            "country": iprange.country,
            "city": iprange.city,
            "latitude": iprange.latitude,
            "longitude": iprange.longitude,
            "isp": iprange.isp,
        }

    def has_overlap_error(self) -> bool:
        return self.has_error("cidrs", "overlap")


class ThreatFeedForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=128)
    kind = forms.ChoiceField(choices=ThreatFeed.Kind.choices, initial=ThreatFeed.Kind.TOR_EXIT_NODES)
    tag = forms.CharField(
        required=False,
        max_length=64,
        help_text="Shown on activities from the listed addresses. Defaults to the kind, e.g. "
        '"Tor exit node"; entries always carry the kind\'s tag as well.',
    )
    url = forms.URLField(
        label="List URL",
        required=False,
        assume_scheme="https",
        max_length=1024,
        help_text="An http(s) address fetched every 6 hours. Leave empty to upload the list as a file.",
    )
    enabled = forms.BooleanField(required=False, initial=True, help_text="Disabled feeds tag nothing.")

    @classmethod
    def initial_for(cls, feed: ThreatFeed) -> dict:
        return {
            "name": feed.name,
            "kind": feed.kind,
            "tag": feed.tag,
            "url": feed.url,
            "enabled": feed.enabled,
        }


class ThreatFeedUploadForm(forms.Form):
    file = forms.FileField(
        label="List file",
        help_text="Text with one IP address or network per line ('#' comments allowed), or CSV with the "
        f"address in the first column. At most {MAX_FEED_BYTES // (1024 * 1024)} MB. It replaces the "
        "feed's entries.",
    )

    def __init__(self, *args, too_large: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.too_large = too_large

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FEED_BYTES:
            raise forms.ValidationError(self.size_message(upload.size))
        return upload

    def clean(self):
        if self.too_large:
            self.errors.pop("file", None)
            self.add_error("file", self.size_message())
        return super().clean()

    @staticmethod
    def size_message(size: int | None = None) -> str:
        limit = MAX_FEED_BYTES // (1024 * 1024)
        if size is None:
            return (
                f"The file is larger than {limit} MB, the most a list can be. Split it, or load it with "
                "the load_threat_feed management command."
            )
        return f"The file is {size / (1024 * 1024):.1f} MB; a list can be at most {limit} MB."


class AuditLogFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150)
    action = forms.ChoiceField(required=False, choices=[("", "Any action"), *AuditAction.choices])
    since = forms.DateField(required=False, label="From")
    until = forms.DateField(required=False, label="To")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("since") and cleaned.get("until") and cleaned["since"] > cleaned["until"]:
            raise forms.ValidationError("The start date is after the end date.")
        return cleaned
