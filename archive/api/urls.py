"""REST API of the archive, mounted under /api/v1/."""

from django.urls import path

from archive.api import jobs, people, views

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

urlpatterns += [
    path("jobs", jobs.JobListApi.as_view(), name="job-list"),
    path("jobs/<int:job_id>", jobs.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<int:job_id>/cancel", jobs.JobCancelApi.as_view(), name="job-cancel"),
    path("jobs/<int:job_id>/export/<str:fmt>", jobs.JobExportApi.as_view(), name="job-export"),
    path("jobs/<int:job_id>/files/<str:name>", jobs.JobFileApi.as_view(), name="job-file"),
]

urlpatterns += [
    path("people", people.PeopleListApi.as_view(), name="people-list"),
    path("people/<int:person_id>", people.PersonDetailApi.as_view(), name="person-detail"),
    path("people/<int:person_id>/photos", people.PersonPhotosApi.as_view(), name="person-photos"),
    path(
        "people/<int:person_id>/photos/<int:signature_id>",
        people.PersonPhotoDetailApi.as_view(),
        name="person-photo",
    ),
    path(
        "people/<int:person_id>/appearances",
        people.PersonAppearancesApi.as_view(),
        name="person-appearances",
    ),
    path("identify", people.IdentifyApi.as_view(), name="identify"),
    path(
        "collections/<int:collection_id>/find",
        people.CollectionFindApi.as_view(),
        name="collection-find",
    ),
]
