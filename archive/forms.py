from __future__ import annotations

from django import forms

from analysis.ml.types import EMOTIONS
from archive.selectors import ArchiveFilter


class FilterForm(forms.Form):
    q = forms.CharField(label="Name", required=False, max_length=200)
    emotion = forms.ChoiceField(
        label="Dominant emotion",
        required=False,
        choices=[("", "Any emotion"), *((e, e) for e in EMOTIONS)],
    )
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def filters(self) -> ArchiveFilter:
        if not self.is_valid():
            return ArchiveFilter()
        data = self.cleaned_data
        return ArchiveFilter(
            query=data["q"].strip(),
            emotion=data["emotion"],
            date_from=data["date_from"],
            date_to=data["date_to"],
        )


class RenameForm(forms.Form):
    name = forms.CharField(max_length=200)

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("A name cannot be empty.")
        return name
