from __future__ import annotations

from django import forms

from api.models import ApiToken
from portal.models import Team


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    scopes = forms.MultipleChoiceField(
        choices=ApiToken.Scope.choices, widget=forms.CheckboxSelectMultiple
    )
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)
    days = forms.IntegerField(required=False, min_value=1, max_value=3650)
