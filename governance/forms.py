from django import forms

from alerts.models import Alert
from connectors.models import Connector
from governance.actions.registry import all_actions


class RunForm(forms.Form):
    """What the confirmation dialog posts: one action on one target of one connected account."""

    action = forms.ChoiceField()
    connector = forms.ModelChoiceField(queryset=Connector.objects.all())
    target = forms.CharField(max_length=512)
    alert = forms.ModelChoiceField(queryset=Alert.objects.all(), required=False)
    grantee = forms.CharField(
        label="Collaborator to remove",
        max_length=512,
        required=False,
        help_text="Canonical user ID, email address, display name, or AllUsers / AuthenticatedUsers.",
    )
    message = forms.CharField(
        label="Note to the user",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Added to the email, e.g. what to do next.",
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [(a.key, a.label) for a in all_actions()]

    def parameters(self) -> dict:
        return {name: self.cleaned_data.get(name, "") for name in ("grantee", "message")}
