from django import forms

from defender.forms import ServiceErrorsMixin
from policies.models import Policy
from siem.models import SEVERITY_ORDER, SiemDestination
from siem.services import DestinationSettings

# From the least severe up: "Low" sends low, medium and high alerts.
SEVERITY_CHOICES = [(value, Policy.Severity(value).label) for value in SEVERITY_ORDER]


class DestinationForm(ServiceErrorsMixin, forms.Form):
    name = forms.CharField(max_length=100)
    transport = forms.ChoiceField(
        label="Send over",
        choices=SiemDestination.Transport.choices,
        initial=SiemDestination.Transport.SYSLOG_TCP,
    )
    format = forms.ChoiceField(
        choices=SiemDestination.Format.choices,
        initial=SiemDestination.Format.JSONL,
        help_text="JSON lines: one JSON document per record. CEF: ArcSight's Common Event Format, "
        "which most SIEMs parse without configuration.",
    )
    host = forms.CharField(
        required=False, max_length=255, help_text="Host name or IP address of the syslog server."
    )
    port = forms.IntegerField(
        required=False, min_value=1, max_value=65535, help_text="Usually 514 (UDP, TCP) or 6514 (TLS)."
    )
    tls_verify = forms.BooleanField(
        label="Verify the server's certificate and host name",
        required=False,
        initial=True,
        help_text="Turn off only for a test server with a self-signed certificate.",
    )
    tls_ca_pem = forms.CharField(
        label="CA certificate",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "mono"}),
        help_text="PEM of the CA that signed the server's certificate, when it is not a public CA.",
    )
    webhook_url = forms.CharField(
        label="Webhook URL",
        required=False,
        max_length=1024,
        help_text="Each batch is POSTed to it, one record per line.",
    )
    webhook_secret = forms.CharField(
        label="Signing secret",
        required=False,
        max_length=256,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Signs each POST: X-Defender-Signature: sha256=<HMAC-SHA256 of the body>. "
        "Stored encrypted and never shown again; leave empty to keep the current one.",
    )
    remove_webhook_secret = forms.BooleanField(label="Remove the signing secret", required=False)
    export_alerts = forms.BooleanField(label="New alerts", required=False, initial=True)
    export_alert_updates = forms.BooleanField(
        label="Alert updates (status, assignment, resolution, comments)", required=False, initial=True
    )
    export_activities = forms.BooleanField(label="Activities (every CloudTrail event)", required=False)
    min_severity = forms.ChoiceField(
        label="Minimum alert severity",
        choices=SEVERITY_CHOICES,
        initial=Policy.Severity.INFORMATIONAL,
        help_text="Alerts and alert updates below it are not sent.",
    )
    enabled = forms.BooleanField(label="Enabled", required=False, initial=True)

    @classmethod
    def initial_for(cls, destination: SiemDestination) -> dict:
        return {
            field: getattr(destination, field)
            for field in (
                "name",
                "transport",
                "format",
                "host",
                "port",
                "tls_verify",
                "tls_ca_pem",
                "webhook_url",
                "export_alerts",
                "export_alert_updates",
                "export_activities",
                "min_severity",
                "enabled",
            )
        }

    def settings(self) -> DestinationSettings:
        data = self.cleaned_data
        secret = data["webhook_secret"] or None
        if data["remove_webhook_secret"]:
            secret = ""
        return DestinationSettings(
            name=data["name"],
            transport=data["transport"],
            format=data["format"],
            host=data["host"],
            port=data["port"],
            tls_verify=data["tls_verify"],
            tls_ca_pem=data["tls_ca_pem"],
            webhook_url=data["webhook_url"],
            webhook_secret=secret,
            export_alerts=data["export_alerts"],
            export_alert_updates=data["export_alert_updates"],
            export_activities=data["export_activities"],
            min_severity=data["min_severity"],
            enabled=data["enabled"],
        )
