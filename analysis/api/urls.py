"""REST API of the analysis app, mounted under /api/v1/."""

urlpatterns: list[object] = []
