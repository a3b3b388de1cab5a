from django.db import migrations


def name_the_site(apps, schema_editor):
    # allauth signs its emails with the current Site; the default one is "example.com".
    Site = apps.get_model("sites", "Site")
    Site.objects.update_or_create(
        pk=1, defaults={"domain": "127.0.0.1:8000", "name": "Emotion Lens"}
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_api_token"),
        ("sites", "0002_alter_domain_unique"),
    ]

    operations = [migrations.RunPython(name_the_site, migrations.RunPython.noop)]
