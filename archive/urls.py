from django.urls import path

from archive import people_views, views

app_name = "archive"

urlpatterns = [
    path("", views.archive_page, name="list"),
    path("stats/", views.stats_page, name="stats"),
    path("usage/", views.usage_page, name="usage"),
    path("bulk/", views.bulk_action, name="bulk"),
    path("jobs/", views.jobs_page, name="jobs"),
    path("jobs/<int:job_id>/", views.job_page, name="job"),
    path("jobs/<int:job_id>/files/<str:name>", views.job_file, name="job-file"),
    path("export/<str:fmt>/", views.export_all, name="export"),
    path("people/", people_views.people_page, name="people"),
    path("people/<int:person_id>/", people_views.person_page, name="person"),
    path("people/<int:person_id>/change/", people_views.person_change, name="person-change"),
    path("people/enrol-face/", people_views.person_enrol_face, name="person-enrol-face"),
    path("<int:analysis_id>/", views.analysis_detail, name="detail"),
    path("<int:analysis_id>/delete/", views.analysis_delete, name="delete"),
    path("<int:analysis_id>/image/<str:kind>/", views.analysis_image, name="image"),
]
