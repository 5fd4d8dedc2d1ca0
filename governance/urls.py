from django.urls import path

from governance import views

app_name = "governance"

urlpatterns = [
    path("", views.log, name="log"),
    path("recent/", views.recent, name="recent"),
    path("run/", views.run_new, name="run_new"),
    path("runs/<int:pk>/", views.run_drawer, name="detail"),
    path("runs/<int:pk>/retry/", views.run_retry, name="retry"),
    path("runs/<int:pk>/revert/", views.run_revert, name="revert"),
    path("alerts/<int:alert_id>/", views.alert_panel, name="alert_panel"),
]
