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
    # The photos of one batch job (linked from the job's page).
    collection = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def filters(self) -> ArchiveFilter:
        """The valid fields as a filter; an invalid one (shown as an error) is left out, so
        that one mistyped date does not widen everything else to the whole archive."""
        if not self.is_bound:
            return ArchiveFilter()
        self.is_valid()
        data = self.cleaned_data
        return ArchiveFilter(
            query=(data.get("q") or "").strip(),
            emotion=data.get("emotion") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            collection=data.get("collection"),
        )


class RenameForm(forms.Form):
    name = forms.CharField(max_length=200)

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("A name cannot be empty.")
        return name


class UsageForm(forms.Form):
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
