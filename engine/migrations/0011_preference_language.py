from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('engine', '0010_builder'),
    ]

    operations = [
        migrations.AddField(
            model_name='userpreference',
            name='language',
            field=models.CharField(blank=True, max_length=12),
        ),
    ]
