"""REST API of the analysis app, mounted under /api/v1/."""

from django.urls import path

from analysis.api.views import AnalyzeApi, DetectApi

urlpatterns = [
    path("analyze", AnalyzeApi.as_view(), name="analyze"),
    path("detect", DetectApi.as_view(), name="detect"),
]
