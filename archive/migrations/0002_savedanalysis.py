"""Analysis becomes SavedAnalysis (its table keeps its name); faces keep every field of the
live answer."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("archive", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Naming the table first makes the rename below leave the table as it is.
        migrations.AlterModelTable(name="analysis", table="archive_analysis"),
        migrations.RenameModel(old_name="Analysis", new_name="SavedAnalysis"),
        migrations.AlterModelOptions(
            name="savedanalysis",
            options={
                "ordering": ("-created", "-id"),
                "verbose_name": "saved analysis",
                "verbose_name_plural": "saved analyses",
            },
        ),
        migrations.AddField(
            model_name="face", name="score", field=models.FloatField(default=0.0)
        ),
        migrations.AddField(
            model_name="face",
            name="detector",
            field=models.CharField(blank=True, max_length=20),
        ),
        migrations.AddField(
            model_name="face",
            name="found_by",
            field=models.CharField(blank=True, max_length=20),
        ),
        migrations.AddField(
            model_name="face", name="landmarks", field=models.JSONField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="face", name="quality", field=models.JSONField(default=dict)
        ),
    ]
