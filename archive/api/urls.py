"""REST API of the archive, mounted under /api/v1/."""

from django.urls import path

from archive.api import views

urlpatterns = [
    path("analyze", views.AnalyzeApi.as_view(), name="analyze"),
    path("analyses", views.AnalysisListApi.as_view(), name="analysis-list"),
    path("usage", views.UsageApi.as_view(), name="usage"),
    path("analyses/export/<str:fmt>", views.AnalysisExportApi.as_view(), name="analysis-export"),
    path("analyses/<int:analysis_id>", views.AnalysisDetailApi.as_view(), name="analysis-detail"),
    path(
        "analyses/<int:analysis_id>/images/<str:kind>",
        views.AnalysisImageApi.as_view(),
        name="analysis-image",
    ),
]
