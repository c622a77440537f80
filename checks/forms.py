from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from django import forms
from django.http import QueryDict

from checks import selectors
from checks.engine.draft import Draft, Entry, render_toml, toml_value
from checks.engine.fields import ProfileError
from checks.engine.registry import STEPS
from checks.models import DiscoveryJob
from checks.services import discoveries
from checks.services.profiles import SECRET_FIELDS
from portal.models import ChecklistTemplate, Service, Team

# The secrets as a person names them (the "Remove stored secrets" checkboxes).
SECRET_LABELS = {
    "password": "Probe password",
    "otp_secret": "OTP secret",
    "repo_token": "Repository token",
    "mongo_uri": "MongoDB URI",
    "hooks_token": "Drill hooks token",
    "auth_token": "Static token or API key",
    "client_secret": "OAuth2 client secret",
}


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
        choices=[(name, SECRET_LABELS.get(name, name)) for name in SECRET_FIELDS],
        widget=forms.CheckboxSelectMultiple,
        label="Remove stored secrets",
    )
    schedule_enabled = forms.BooleanField(required=False, label="Run on a schedule")
    schedule_cron = forms.CharField(initial="0 2 * * *", label="Schedule (cron, UTC)")


# --- adding a service from its staging URL ---------------------------------------------------


def _http_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if value and (parts.scheme not in ("http", "https") or not parts.hostname):
        raise forms.ValidationError(f"The {what} must be an http:// or https:// URL.")
    return value


class ServiceDetailsForm(forms.Form):
    """The service as the portal records it; the team is one of the user's own."""

    name = forms.CharField(max_length=100)
    slug = forms.SlugField(max_length=100, help_text="The service's address in the portal.")
    team = forms.ModelChoiceField(queryset=Team.objects.none(), empty_label=None)
    template = forms.ModelChoiceField(
        queryset=ChecklistTemplate.objects.none(), empty_label=None, label="Checklist"
    )
    tier = forms.TypedChoiceField(
        choices=Service.Tier.choices, coerce=int, initial=Service.Tier.TIER_2
    )
    lifecycle = forms.ChoiceField(
        choices=Service.Lifecycle.choices, initial=Service.Lifecycle.DEVELOPMENT
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        team_field = cast(forms.ModelChoiceField, self.fields["team"])
        team_field.queryset = selectors.teams_for_new_service(user)
        templates = selectors.newest_templates()
        template_field = cast(forms.ModelChoiceField, self.fields["template"])
        template_field.queryset = ChecklistTemplate.objects.filter(pk__in=[t.pk for t in templates])
        if templates and not self.is_bound:
            self.fields["template"].initial = templates[0].pk

    SERVICE_FIELDS = ("name", "slug", "team", "template", "tier", "lifecycle")

    @property
    def service_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.SERVICE_FIELDS]

    def clean_slug(self) -> str:
        slug = str(self.cleaned_data["slug"])
        if Service.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f"A service with the slug {slug!r} exists already.")
        return slug

    def details(self) -> discoveries.ServiceDetails:
        data = self.cleaned_data
        return discoveries.ServiceDetails(
            name=data["name"],
            slug=data["slug"],
            team=data["team"],
            template=data["template"],
            tier=data["tier"],
            lifecycle=data["lifecycle"],
        )


class DiscoveryTargetForm(forms.Form):
    """Where discovery looks and how it logs in. Secrets are write-only."""

    base_url = forms.CharField(
        max_length=200,
        label="Staging base URL",
        widget=forms.URLInput(attrs={"placeholder": "https://orders.staging.example.com"}),
    )
    openapi_url = forms.CharField(
        max_length=500,
        required=False,
        label="OpenAPI document URL (optional)",
        help_text="Only when it is not at one of the usual places (/openapi.json, ...).",
        widget=forms.URLInput(),
    )
    username = forms.CharField(
        max_length=200,
        required=False,
        label="Probe username (optional)",
        help_text="The user the checks log in as (or the OAuth2 client id).",
    )
    password = forms.CharField(
        required=False,
        strip=False,
        label="Probe password, API key or client secret (optional)",
        help_text="Given, discovery logs in once to confirm the draft. Never shown again.",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    otp_secret = forms.CharField(
        required=False,
        label="OTP secret, base32 (optional)",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )

    def clean_base_url(self) -> str:
        return _http_url(str(self.cleaned_data["base_url"]).strip(), "staging base URL")

    def clean_openapi_url(self) -> str:
        return _http_url(str(self.cleaned_data["openapi_url"]).strip(), "OpenAPI URL")


class AddServiceForm(ServiceDetailsForm, DiscoveryTargetForm):
    @property
    def target_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in DiscoveryTargetForm.base_fields]


# Settings with a closed set of values are chosen, not typed.
_CHOICES = {
    "auth.style": ("json", "oauth2_password", "client_credentials", "static"),
    "resource.update_method": ("PATCH", "PUT"),
    "resource.pagination": ("cursor", "offset", "page", "none"),
}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    return "toml"  # tables and arrays: edited as an inline TOML value


@dataclass
class DraftField:
    """One setting of the draft as the template shows it: the bound form field, the entry
    (value, source, inferred or left to fill in) and how its value is typed."""

    name: str  # "section.key", also the form field's name and the reference's anchor
    entry: Entry
    kind: str  # text, number, bool or toml (an inline table or array)
    bound: Any = None


class DraftForm(ServiceDetailsForm):
    """The draft as a form grouped by profile section, the same draft as TOML beside it, and
    the write-only secrets. ``source`` (the button pressed) says which of the two is saved:
    ``form`` builds the profile from the fields (the TOML box is ignored), ``toml`` saves the
    TOML box as written (the fields are ignored), ``preview`` only rewrites the TOML box
    from the fields."""

    SOURCES = ("form", "toml", "preview")

    source = forms.ChoiceField(choices=[(s, s) for s in SOURCES], required=False)
    toml = forms.CharField(
        required=False,
        strip=False,
        label="Profile (TOML)",
        widget=forms.Textarea(attrs={"rows": 30, "spellcheck": "false"}),
    )
    password = forms.CharField(
        required=False,
        strip=False,
        label="Probe password, API key or client secret",
        help_text=(
            "Given when discovery was asked for; leave blank to keep it. It becomes the "
            "profile's password, or its API key (auth.style static), or its client secret "
            "(client_credentials)."
        ),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    otp_secret = forms.CharField(
        required=False,
        label="OTP secret, base32",
        help_text="Leave blank to keep the one given, if any.",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args: Any, draft: Draft, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
        self.draft = draft
        self.draft_fields: dict[str, DraftField] = {}
        for section in draft.sections.values():
            for entry in section.entries:
                name = f"{section.name}.{entry.key}"
                self.draft_fields[name] = DraftField(name, entry, _kind(entry.value))
                self.fields[name] = self._field(name, entry)
        if not self.is_bound:
            self.fields["toml"].initial = render_toml(draft)

    def _field(self, name: str, entry: Entry) -> forms.Field:
        kind = _kind(entry.value)
        initial = entry.value if entry.inferred else None
        attrs: dict[str, str] = {}
        if not entry.inferred:
            attrs["placeholder"] = entry.value if kind == "text" else toml_value(entry.value)
        if name in _CHOICES or kind == "bool":
            values = _CHOICES.get(name) or ("true", "false")
            choices = [(v, v) for v in values]
            if not entry.inferred:
                choices.insert(0, ("", f"(default: {attrs['placeholder']})"))
            return forms.ChoiceField(
                choices=choices,
                required=False,
                initial=toml_value(initial) if isinstance(initial, bool) else initial,
            )
        if kind == "toml":
            attrs["class"] = "toml-value"
            initial = toml_value(initial) if initial is not None else None
        elif kind == "number":
            attrs["inputmode"] = "decimal"
            initial = repr(initial) if initial is not None else None
        return forms.CharField(required=False, initial=initial, widget=forms.TextInput(attrs))

    def sections(self) -> list[tuple[str, list[DraftField]]]:
        """(section name, its fields bound to this form), in the draft's order."""
        grouped: dict[str, list[DraftField]] = {}
        for name, field in self.draft_fields.items():
            shown = DraftField(name, field.entry, field.kind, self[name])
            grouped.setdefault(name.split(".", 1)[0], []).append(shown)
        return list(grouped.items())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        source = data.get("source") or ""
        if source not in self.SOURCES:
            raise forms.ValidationError("Press one of the buttons: save the form or the TOML.")
        if source == "toml":
            if not str(data.get("toml") or "").strip():
                self.add_error("toml", "The TOML is empty.")
            return data
        values: dict[str, Any] = {}
        for name, field in self.draft_fields.items():
            try:
                values[name] = self._parse(field, self.data.get(name, ""))
            except ValueError as exc:
                self.add_error(name, str(exc))
        if not self.errors:
            data["toml"] = render_toml(self._draft_from(values))
            if source == "preview":  # the TOML box shows the form's profile
                posted = cast(QueryDict, self.data).copy()  # the bound data is immutable
                posted["toml"] = data["toml"]
                self.data = posted
        return data

    @staticmethod
    def _parse(field: DraftField, raw: str) -> Any:
        """The value typed for ``field``; ``_OMIT`` when a setting to fill in is left empty
        (its default applies). An inferred text left empty is ``""``: the service does not
        offer that route, or has no such thing."""
        text = raw.strip()
        if text == "" and not field.entry.inferred:
            return _OMIT
        if field.kind == "text":
            return text
        if field.kind == "bool":
            if text not in ("true", "false"):
                raise ValueError("Choose true or false.")
            return text == "true"
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError as exc:
            what = "a number" if field.kind == "number" else "an inline TOML value"
            raise ValueError(f"Enter {what} ({exc}).") from None
        example = field.entry.value
        if field.kind == "number":
            whole = isinstance(example, int)
            if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
                raise ValueError("Enter a whole number." if whole else "Enter a number.")
        elif type(value) is not type(example):  # a table stays a table, an array an array
            raise ValueError(f"Enter a value like {toml_value(example)}.")
        return value

    def _draft_from(self, values: dict[str, Any]) -> Draft:
        draft = Draft(self.draft.base_url, self.draft.openapi_url, notes=list(self.draft.notes))
        for name, field in self.draft_fields.items():
            section_name, key = name.split(".", 1)
            section = draft.section(section_name)
            value, entry = values[name], field.entry
            if value is _OMIT:
                section.todo(key, entry.value, entry.source)
            elif entry.inferred and value == entry.value:
                section.set(key, value, entry.source)
            else:
                section.set(key, value, "set in the portal")
        return draft

    def add_profile_error(self, error: ProfileError) -> None:
        """A refused profile: on the field it names when the form was saved, else on the TOML
        box (the TOML was saved, or the field is not in the form)."""
        source = self.cleaned_data.get("source")
        if source == "form" and error.field in self.fields:
            self.add_error(error.field, error.message)
        elif source == "form":
            self.add_error(None, str(error))
        else:
            self.add_error("toml", str(error))

    def secrets(self) -> dict[str, str]:
        return {
            "password": self.cleaned_data.get("password") or "",
            "otp_secret": self.cleaned_data.get("otp_secret") or "",
        }


_OMIT: Any = object()


def job_details(job: DiscoveryJob) -> dict[str, Any]:
    """The service details a discovery was asked with, as the draft form's initial values."""
    return {
        "name": job.name,
        "slug": job.slug,
        "team": job.team_id,
        "template": job.template_id,
        "tier": job.tier,
        "lifecycle": job.lifecycle,
    }
