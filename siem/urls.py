from django.urls import path

from siem import views

app_name = "siem"

urlpatterns = [
    path("", views.destinations, name="destinations"),
    path("new/", views.destination_create, name="create"),
    path("<int:pk>/", views.destination_edit, name="edit"),
    path("<int:pk>/enabled/", views.destination_set_enabled, name="set_enabled"),
    path("<int:pk>/test/", views.destination_send_test, name="send_test"),
    path("<int:pk>/delete/", views.destination_delete, name="delete"),
]
