import re

from django import forms
from django.conf import settings

from connectors import aws
from connectors.credentials_csv import ACCESS_KEY_ID, CredentialsCsvError, parse_access_key_csv
from connectors.models import Connector, EntraConnection

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")


class NameForm(forms.Form):
    name = forms.CharField(
        label="Instance name",
        max_length=100,
        help_text="How this AWS account is named in the portal, e.g. Production or Payments-prod.",
    )

    def __init__(self, *args, connector: Connector | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.connector = connector

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        taken = Connector.objects.filter(name__iexact=name)
        if self.connector:
            taken = taken.exclude(pk=self.connector.pk)
        if taken.exists():
            raise forms.ValidationError("Another connected app already has this name.")
        return name


class MethodForm(forms.Form):
    connection_type = forms.ChoiceField(
        label="Connection type",
        choices=[("security_auditing", "Security auditing: CloudTrail activity and inventory")],
        initial="security_auditing",
        widget=forms.RadioSelect,
    )
    auth_method = forms.ChoiceField(
        label="Authentication",
        choices=[
            (
                Connector.AuthMethod.ASSUME_ROLE,
                "IAM role assumed by the portal, with an external ID (recommended)",
            ),
            (Connector.AuthMethod.ACCESS_KEYS, "Access key of a dedicated IAM user"),
        ],
        initial=Connector.AuthMethod.ACCESS_KEYS,
        widget=forms.RadioSelect,
    )


def region_choices() -> list[tuple[str, str]]:
    return [(region, region) for region in aws.available_regions()]


class ScopeFieldsMixin(forms.Form):
    all_regions = forms.BooleanField(
        label="Monitor every enabled region",
        required=False,
        initial=True,
        help_text="Recommended: attackers favour regions nobody watches.",
    )
    regions = forms.MultipleChoiceField(
        label="Regions to monitor", required=False, widget=forms.SelectMultiple(attrs={"size": 6})
    )
    endpoint_url = forms.URLField(
        label="Endpoint URL",
        required=False,
        assume_scheme="https",
        help_text="Only for an AWS-compatible endpoint such as a local emulator. Leave empty for AWS.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["regions"].choices = region_choices()
        if not settings.AWS_ADVANCED_MODE:
            del self.fields["endpoint_url"]

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("all_regions") and not cleaned.get("regions"):
            self.add_error("regions", "Choose at least one region, or monitor every enabled region.")
        return cleaned


class AccessKeyForm(ScopeFieldsMixin):
    access_key_id = forms.CharField(label="Access key ID", max_length=128, required=False)
    secret_access_key = forms.CharField(
        label="Secret access key",
        required=False,
        widget=forms.PasswordInput(render_value=False),
    )
    csv_file = forms.FileField(
        label="Or upload the access key .csv",
        required=False,
        help_text="The file AWS offers to download when the access key is created.",
    )

    field_order = ["access_key_id", "secret_access_key", "csv_file", "all_regions", "regions", "endpoint_url"]

    def __init__(self, *args, has_secret: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.has_secret = has_secret
        # Required unless the .csv is uploaded: not "optional" to the person filling the form.
        for name in ("access_key_id", "secret_access_key"):
            self.fields[name].alternative_to = "csv_file"
        if has_secret:
            self.fields[
                "secret_access_key"
            ].help_text = (
                "A secret was entered earlier and is kept (never shown). Type it again only to change it."
            )

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("csv_file")
        if upload:
            try:
                cleaned["access_key_id"], cleaned["secret_access_key"] = parse_access_key_csv(upload.read())
            except CredentialsCsvError as error:
                self.add_error("csv_file", str(error))
                return cleaned
        key_id = (cleaned.get("access_key_id") or "").strip()
        cleaned["access_key_id"] = key_id
        if not key_id:
            self.add_error("access_key_id", "Enter the access key ID, or upload the access key .csv.")
        elif not ACCESS_KEY_ID.match(key_id):
            self.add_error(
                "access_key_id",
                "An access key ID is 20 upper-case letters and digits starting with AKIA (or ASIA).",
            )
        if not cleaned.get("secret_access_key") and not self.has_secret:
            self.add_error("secret_access_key", "Enter the secret access key, or upload the access key .csv.")
        return cleaned


class RoleForm(ScopeFieldsMixin):
    role_arn = forms.CharField(
        label="Role ARN",
        max_length=300,
        help_text="arn:aws:iam::<account ID>:role/<name> of the role you created for the portal.",
    )
    field_order = ["role_arn", "all_regions", "regions", "endpoint_url"]

    def clean_role_arn(self) -> str:
        value = self.cleaned_data["role_arn"].strip()
        if not ROLE_ARN.match(value):
            raise forms.ValidationError(
                "Expected a role ARN such as arn:aws:iam::123456789012:role/DefenderAudit."
            )
        return value


class HistoryForm(forms.Form):
    history_days = forms.TypedChoiceField(
        label="History to import",
        coerce=int,
        choices=Connector.HistoryDays.choices,
        initial=Connector.HistoryDays.WEEK,
        widget=forms.RadioSelect,
        help_text="CloudTrail's LookupEvents keeps 90 days of management events.",
    )
    ingest_mode = forms.ChoiceField(
        label="Read activity from",
        choices=Connector.IngestMode.choices,
        initial=Connector.IngestMode.LOOKUP_EVENTS,
        widget=forms.RadioSelect,
        help_text="LookupEvents needs no set-up. Trail files suit large accounts and organization trails: "
        "the connector then also needs s3:ListBucket and s3:GetObject on the trail's bucket.",
    )
    trail_bucket = forms.CharField(label="Trail bucket", max_length=63, required=False)
    trail_prefix = forms.CharField(
        label="Trail key prefix",
        max_length=300,
        required=False,
        help_text="The prefix set on the trail, if any (before AWSLogs/).",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("ingest_mode") == Connector.IngestMode.S3_TRAIL and not cleaned.get("trail_bucket"):
            self.add_error("trail_bucket", "Name the S3 bucket the trail delivers its log files to.")
        return cleaned


class EntraConnectionForm(forms.Form):
    """Settings > Identity provider > Microsoft Entra ID. The secret is write-only: never rendered back."""

    tenant_id = forms.CharField(
        label="Tenant ID",
        max_length=64,
        help_text="Directory (tenant) ID from the app registration's Overview page.",
    )
    client_id = forms.CharField(
        label="Client ID",
        max_length=64,
        help_text="Application (client) ID of the app registration the portal signs in as.",
    )
    client_secret = forms.CharField(
        label="Client secret",
        max_length=256,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="The secret's Value from Certificates & secrets. Needs the application permissions "
        "User.Read.All, User.RevokeSessions.All and User.EnableDisableAccount.All, with admin consent.",
    )
    graph_base_url = forms.URLField(
        label="Graph base URL",
        max_length=300,
        assume_scheme="https",
        initial=EntraConnection.DEFAULT_GRAPH_BASE_URL,
        help_text="Only for a Graph-compatible endpoint such as a local fake; leave as is for Graph.",
    )
    login_base_url = forms.URLField(
        label="Sign-in base URL",
        max_length=300,
        assume_scheme="https",
        initial=EntraConnection.DEFAULT_LOGIN_BASE_URL,
        help_text="Where tokens come from: https://login.microsoftonline.com for Microsoft Entra ID.",
    )

    def __init__(self, *args, secret_stored: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if secret_stored:
            self.fields["client_secret"].required = False
            self.fields["client_secret"].widget.attrs["placeholder"] = "Stored - leave empty to keep it"
        if not settings.AWS_ADVANCED_MODE:
            del self.fields["graph_base_url"]
            del self.fields["login_base_url"]

    def clean_tenant_id(self) -> str:
        return self.cleaned_data["tenant_id"].strip()

    def clean_client_id(self) -> str:
        return self.cleaned_data["client_id"].strip()
