from __future__ import annotations

from django import forms

from checks.engine.registry import STEPS
from checks.services.profiles import SECRET_FIELDS


class RunForm(forms.Form):
    steps = forms.MultipleChoiceField(
        choices=[(s, s) for s in STEPS], required=False, widget=forms.CheckboxSelectMultiple
    )


class ProfileForm(forms.Form):
    toml = forms.CharField(widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false"}))
    # Secrets are write-only: never pre-filled, blank keeps the stored value.
    password = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False), strip=False
    )
    otp_secret = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False), label="OTP secret"
    )
    auth_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="Static token or API key (auth.style static)",
    )
    client_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="OAuth2 client secret (auth.style client_credentials)",
    )
    repo_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="Repository token (https)",
    )
    mongo_uri = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="MongoDB URI (read-only user)",
    )
    hooks_token = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        label="Drill hooks token (${token} in hook headers)",
    )
    clear = forms.MultipleChoiceField(
        required=False,
        choices=[(name, name) for name in SECRET_FIELDS],
        widget=forms.CheckboxSelectMultiple,
        label="Remove stored secrets",
    )
    schedule_enabled = forms.BooleanField(required=False, label="Run on a schedule")
    schedule_cron = forms.CharField(initial="0 2 * * *", label="Schedule (cron, UTC)")
