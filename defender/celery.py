import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "defender.settings")

app = Celery("defender")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
