from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('engine', '0007_timer'),
    ]

    operations = [
        migrations.CreateModel(
            name='Sequence',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('entity', models.CharField(max_length=100)),
                ('field', models.CharField(max_length=100)),
                ('key', models.CharField(max_length=255)),
                ('value', models.BigIntegerField(default=0)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('entity', 'field', 'key'), name='engine_sequence_key')],
            },
        ),
    ]
