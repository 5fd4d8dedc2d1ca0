from django.urls import path

from connectors import activity_views, directory_views, files_views, views, wizard

app_name = "connectors"

urlpatterns = [
    path("activity/", activity_views.activity_log, name="activity"),
    path("activity/export.csv", activity_views.activity_export, name="activity_export"),
    path("activity/<int:pk>/", activity_views.activity_drawer, name="activity_drawer"),
    path("activity/saved-queries/", activity_views.saved_query_create, name="saved_query_create"),
    path(
        "activity/saved-queries/<int:pk>/delete/",
        activity_views.saved_query_delete,
        name="saved_query_delete",
    ),
    path("files/", files_views.files, name="files"),
    path("files/scan/", files_views.files_scan, name="files_scan"),
    path("files/<int:pk>/", files_views.file_drawer, name="file_drawer"),
    path("assets/accounts/", views.accounts, name="accounts"),
    path("settings/connected-apps/", views.connected_apps, name="apps"),
    path("settings/connected-apps/new/", wizard.connect_catalog, name="connect"),
    path("settings/connected-apps/new/aws/cancel/", wizard.wizard_cancel, name="wizard_cancel"),
    path("settings/connected-apps/new/aws/<slug:step>/", wizard.wizard, name="wizard"),
    path("settings/connected-apps/<int:pk>/", views.connector_drawer, name="drawer"),
    path("settings/connected-apps/<int:pk>/connected/", wizard.connected, name="connected"),
    path("settings/connected-apps/<int:pk>/edit/cancel/", wizard.wizard_cancel, name="wizard_edit_cancel"),
    path("settings/connected-apps/<int:pk>/edit/<slug:step>/", wizard.wizard, name="wizard_edit"),
    path("settings/connected-apps/<int:pk>/enabled/", views.connector_set_enabled, name="set_enabled"),
    path("settings/connected-apps/<int:pk>/sync/", views.connector_sync, name="sync"),
    path("settings/connected-apps/<int:pk>/delete/", views.connector_delete, name="delete"),
    path("settings/identity-provider/", directory_views.identity_provider, name="identity_provider"),
    path("settings/identity-provider/users/", directory_views.directory_user_add, name="directory_user_add"),
    path("settings/identity-provider/import/", directory_views.directory_import, name="directory_import"),
    path(
        "settings/identity-provider/users/<int:pk>/status/",
        directory_views.directory_user_status,
        name="directory_user_status",
    ),
    path("settings/identity-provider/mappings/", directory_views.mapping_add, name="mapping_add"),
    path("settings/identity-provider/entra-id/", directory_views.entra_save, name="entra_save"),
    path(
        "settings/identity-provider/entra-id/enabled/",
        directory_views.entra_set_enabled,
        name="entra_set_enabled",
    ),
    path("settings/identity-provider/entra-id/sync/", directory_views.entra_sync_now, name="entra_sync"),
]
