from __future__ import annotations

from django import forms

from reviews.gate import RULES


class LaunchRequestForm(forms.Form):
    target_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    exemption_expires = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for rule in RULES:
            self.fields[f"justification_{rule}"] = forms.CharField(
                required=False, widget=forms.Textarea(attrs={"rows": 2})
            )

    def justifications(self) -> dict[str, str]:
        return {rule: self.cleaned_data.get(f"justification_{rule}") or "" for rule in RULES}


class DecisionForm(forms.Form):
    reason = forms.CharField(required=False, max_length=5000)


class ExemptionRequestForm(forms.Form):
    """An item exemption: a reason and an expiry; a reviewer of another team approves it."""

    justification = forms.CharField(max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    expires = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
