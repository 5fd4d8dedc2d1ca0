"""The project's URLs as they are while the governance app has no "recent actions" partial: the
dashboard must render without it."""

from django.urls import include, path

from defender import urls as project
from governance import urls as governance

urlpatterns = [
    path("governance/", include(([p for p in governance.urlpatterns if p.name != "recent"], "governance")))
    if getattr(pattern, "namespace", None) == "governance"
    else pattern
    for pattern in project.urlpatterns
]
