from __future__ import annotations

from django import forms

from portal.models import Service, Team, TemplateSection
from portal.selectors import SERVICE_STATES


class ItemChangeForm(forms.Form):
    """The item form's fields; domain rules (reason, evidence, permissions) live in services."""

    action = forms.ChoiceField(choices=[("done", "done"), ("na", "na"), ("reopen", "reopen")])
    version = forms.IntegerField(min_value=0)
    note = forms.CharField(required=False, max_length=2000)
    evidence_url = forms.CharField(required=False, max_length=500)
    # The length, size and type rules are the service's (portal.services, evidence_files),
    # so every caller gets the same refusal and the form only carries the values.
    evidence_text = forms.CharField(required=False, strip=False)
    evidence_file = forms.FileField(required=False, allow_empty_file=True)


class ServiceFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    team = forms.ChoiceField(required=False)
    tier = forms.ChoiceField(required=False, choices=[("", "Any tier"), *Service.Tier.choices])
    state = forms.ChoiceField(required=False, choices=[("", "Any state"), *SERVICE_STATES.items()])
    # Services with open items in this checklist section (the dashboards' heatmap links here).
    section = forms.ChoiceField(required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        teams = [(t.slug, t.name) for t in Team.objects.order_by("name")]
        self.fields["team"].choices = [("", "Any team"), *teams]  # type: ignore[attr-defined]
        sections = dict(TemplateSection.objects.order_by("-pk").values_list("key", "title"))
        self.fields["section"].choices = [  # type: ignore[attr-defined]
            ("", "Any section"),
            *((key, f"Open in {title}") for key, title in sorted(sections.items())),
        ]


class HistoryFilterForm(forms.Form):
    team = forms.CharField(required=False)
    user = forms.CharField(required=False)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    # Keyset cursors of the page links (an event id): older than ``before``, newer than
    # ``after``.
    before = forms.IntegerField(required=False, min_value=1)
    after = forms.IntegerField(required=False, min_value=1)

    FILTERS = ("team", "user", "since", "until")
