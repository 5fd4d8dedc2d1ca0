from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.alert_list, name="list"),
    path("bulk/assign/", views.bulk_assign, name="bulk_assign"),
    path("bulk/resolve/", views.bulk_resolve, name="bulk_resolve"),
    path("bulk/dismiss/", views.bulk_dismiss, name="bulk_dismiss"),
    path("<int:pk>/", views.alert_detail, name="detail"),
    path("<int:pk>/assign/", views.alert_assign_me, name="assign"),
    path("<int:pk>/status/", views.alert_status, name="status"),
    path("<int:pk>/resolve/", views.alert_resolve, name="resolve"),
    path("<int:pk>/reopen/", views.alert_reopen, name="reopen"),
    path("<int:pk>/comment/", views.alert_comment, name="comment"),
]
