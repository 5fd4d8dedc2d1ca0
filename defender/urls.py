from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from defender import views

app_urls = (
    [
        path("settings/users/", views.users, name="users"),
        path("settings/users/new/", views.user_create, name="user_create"),
        path("settings/users/<int:pk>/", views.user_edit, name="user_edit"),
        path("settings/users/<int:pk>/active/", views.user_set_active, name="user_set_active"),
        path("settings/ip-ranges/", views.ipranges, name="ipranges"),
    ],
    "defender",
)

urlpatterns = [
    path("", views.home, name="home"),
    path("", include(app_urls)),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("alerts/", include("alerts.urls")),
    path("policies/", include("policies.urls")),
    path("governance/", include("governance.urls")),
    path("", include("connectors.urls")),
    path("api/v1/", include("defender.api_urls")),
    path("admin/", admin.site.urls),
]
