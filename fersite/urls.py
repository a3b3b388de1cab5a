"""Top-level URLs: pages per app, the REST API under /api/v1/, the admin and /healthz."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from fersite.csp import with_inline_styles
from fersite.health import healthz


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    # Resolved per request: in production the static manifest exists only after collectstatic.
    return HttpResponseRedirect(static("site/favicon.svg"))


api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("analysis.api.urls")),
    path("", include("archive.api.urls")),
]

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("analyze/", include("analysis.urls")),
    path("camera/", include("camera.urls")),
    path("archive/", include("archive.urls")),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("archive.account_urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view loads its start-up script from a URL instead of inline, as the
    # Content-Security-Policy requires.
    path(
        "api/docs/",
        with_inline_styles(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
]
