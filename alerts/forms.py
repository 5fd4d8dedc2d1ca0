from django import forms

from alerts.models import Alert

COMMENT_REQUIRED = "Add a comment that says why."


class ResolveForm(forms.Form):
    classification = forms.ChoiceField(
        choices=Alert.Classification.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose how to classify the alert."},
    )
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=5000,
        error_messages={"required": COMMENT_REQUIRED},
    )


class DismissForm(forms.Form):
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=5000,
        error_messages={"required": COMMENT_REQUIRED},
    )


class CommentForm(forms.Form):
    text = forms.CharField(max_length=5000, error_messages={"required": "Write a comment first."})


class StatusForm(forms.Form):
    status = forms.ChoiceField(
        choices=[(Alert.Status.OPEN, "Open"), (Alert.Status.IN_PROGRESS, "In progress")]
    )


class BulkForm(forms.Form):
    """The alerts a bulk command applies to (the queue's checked rows)."""

    alerts = forms.ModelMultipleChoiceField(
        queryset=Alert.objects.all(), error_messages={"required": "Select at least one alert."}
    )
