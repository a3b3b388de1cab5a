"""Fill in the size of the pictures kept with analyses saved before sizes were recorded, so that
the usage page counts them too. A file that cannot be read counts as 0 (it is gone)."""

from django.db import migrations


def fill(apps, schema_editor):  # type: ignore[no-untyped-def]
    SavedAnalysis = apps.get_model("archive", "SavedAnalysis")
    for analysis in SavedAnalysis.objects.filter(bytes_stored=0).iterator():
        total = 0
        for name in ("original", "annotated", "thumbnail"):
            field = getattr(analysis, name)
            if not field:
                continue
            try:
                total += field.storage.size(field.name)
            except Exception:  # noqa: BLE001 - a lost file, or a storage that is down: 0.
                continue
        if total:
            SavedAnalysis.objects.filter(pk=analysis.pk).update(bytes_stored=total)


class Migration(migrations.Migration):
    dependencies = [("archive", "0004_pictures_permission")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
