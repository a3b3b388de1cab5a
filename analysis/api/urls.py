"""REST API of the analysis app, mounted under /api/v1/ (analyze is the archive's: it can
save)."""

from django.urls import path

from analysis.api.views import DetectApi, LivenessApi, VerifyApi

urlpatterns = [
    path("detect", DetectApi.as_view(), name="detect"),
    path("verify", VerifyApi.as_view(), name="verify"),
    path("liveness", LivenessApi.as_view(), name="liveness"),
]
