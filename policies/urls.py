from django.urls import path

from policies import views

app_name = "policies"

urlpatterns = [
    path("", views.policy_list, name="list"),
    path("new/activity/", views.policy_new, name="new"),
    path("new/activity/edit/", views.policy_create, name="create"),
    path("import/", views.policy_import, name="import"),
    path("preview/", views.policy_preview_view, name="preview"),
    path("<int:pk>/", views.policy_detail, name="detail"),
    path("<int:pk>/history/", views.policy_history, name="history"),
    path("<int:pk>/enabled/", views.policy_set_enabled, name="set_enabled"),
    path("<int:pk>/delete/", views.policy_delete, name="delete"),
    path("<int:pk>/export.yaml", views.policy_export, name="export"),
]
