from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from alerts import views as alert_views
from defender import api_views, views
from defender.auth import LoginView
from defender.ipintel import views as ipintel_views

app_urls = (
    [
        path("settings/users/", views.users, name="users"),
        path("settings/users/new/", views.user_create, name="user_create"),
        path("settings/users/<int:pk>/", views.user_edit, name="user_edit"),
        path("settings/users/<int:pk>/active/", views.user_set_active, name="user_set_active"),
        path("settings/audit-log/", views.audit_log, name="audit_log"),
        path("settings/api-tokens/", api_views.api_tokens, name="api_tokens"),
        path("settings/api-tokens/new/", api_views.api_token_create, name="api_token_create"),
        path("settings/api-tokens/<int:pk>/revoke/", api_views.api_token_revoke, name="api_token_revoke"),
        path("settings/ip-ranges/", ipintel_views.ipranges, name="ipranges"),
        path("settings/ip-ranges/new/", ipintel_views.iprange_create, name="iprange_create"),
        path("settings/ip-ranges/mark/", ipintel_views.iprange_mark, name="iprange_mark"),
        path("settings/ip-ranges/<int:pk>/", ipintel_views.iprange_edit, name="iprange_edit"),
        path("settings/ip-ranges/<int:pk>/delete/", ipintel_views.iprange_delete, name="iprange_delete"),
        path("settings/ip-ranges/feeds/", ipintel_views.threat_feeds, name="threat_feeds"),
        path("settings/ip-ranges/feeds/new/", ipintel_views.threat_feed_create, name="threat_feed_create"),
        path("settings/ip-ranges/feeds/<int:pk>/", ipintel_views.threat_feed_edit, name="threat_feed_edit"),
        path(
            "settings/ip-ranges/feeds/<int:pk>/upload/",
            ipintel_views.threat_feed_upload,
            name="threat_feed_upload",
        ),
        path(
            "settings/ip-ranges/feeds/<int:pk>/refresh/",
            ipintel_views.threat_feed_refresh,
            name="threat_feed_refresh",
        ),
        path(
            "settings/ip-ranges/feeds/<int:pk>/delete/",
            ipintel_views.threat_feed_delete,
            name="threat_feed_delete",
        ),
    ],
    "defender",
)

urlpatterns = [
    path("", alert_views.dashboard, name="home"),
    path("", include(app_urls)),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("alerts/", include("alerts.urls")),
    path("policies/", include("policies.urls")),
    path("governance/", include("governance.urls")),
    path("settings/siem/", include("siem.urls")),
    path("", include("connectors.urls")),
    path("api/v1/", include("defender.api_urls")),
    path("api/schema/", api_views.schema_view, name="api-schema"),
    path("api/docs/", api_views.docs_view, name="api-docs"),
    path("admin/", admin.site.urls),
]
