"""Admin for saved analyses: thumbnails, faces inline, search and filters."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import FileResponse, HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from accounts.admin import UserAdmin
from accounts.models import User
from archive import people
from archive.jobs import job_cancel
from archive.models import Face, Job, Person, SavedAnalysis
from archive.services import account_delete, analyses_delete
from archive.views import image_response


def _may_see_pictures(request: HttpRequest) -> bool:
    return bool(request.user.has_perm("archive.view_pictures"))


class FaceInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Face
    extra = 0
    can_delete = False
    fields = ("index", "x", "y", "w", "h", "dominant_emotion", "confidence", "verdict", "reasons")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(SavedAnalysis)
class AnalysisAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "preview",
        "name",
        "owner",
        "face_count",
        "dominant_emotion",
        "source",
        "created",
    )
    list_display_links = ("preview", "name")
    list_filter = ("dominant_emotion", "source", "detector", "created")
    search_fields = ("name", "owner__email", "owner__username")
    date_hierarchy = "created"
    list_select_related = ("owner",)
    readonly_fields = (
        "preview",
        "owner",
        "source",
        "width",
        "height",
        "detector",
        "passes",
        "enhance",
        "model_versions",
        "face_count",
        "dominant_emotion",
        "created",
    )
    fields = ("name", *readonly_fields)
    inlines = (FaceInline,)
    actions = ("delete_with_files",)

    class Media:
        css = {"all": ["archive/admin.css"]}

    def get_urls(self) -> list[URLPattern]:
        urls: list[URLPattern] = [
            path(
                "<int:analysis_id>/thumbnail/",
                self.admin_site.admin_view(self.thumbnail_view),
                name="archive_analysis_thumbnail",
            )
        ]
        return urls + super().get_urls()

    def thumbnail_view(self, request: HttpRequest, analysis_id: int) -> FileResponse:
        # Only staff with the pictures permission see a user's photo, even as a thumbnail.
        analysis = get_object_or_404(SavedAnalysis, pk=analysis_id)
        if not (self.has_view_permission(request, analysis) and _may_see_pictures(request)):
            raise PermissionDenied
        return image_response(analysis, "thumbnail")

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = super().get_list_display(request)
        return shown if _may_see_pictures(request) else [f for f in shown if f != "preview"]

    def get_list_display_links(self, request: HttpRequest, list_display: Any) -> Any:
        return ("preview", "name") if _may_see_pictures(request) else ("name",)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_fields(request, obj)
        return fields if _may_see_pictures(request) else [f for f in fields if f != "preview"]

    @admin.display(description="picture")
    def preview(self, obj: SavedAnalysis) -> str:
        if not obj.thumbnail:
            return "—"
        url = reverse("admin:archive_analysis_thumbnail", args=[obj.pk])
        return format_html('<img src="{}" alt="" class="admin-thumbnail">', url)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # The built-in bulk delete would leave the files behind.
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Delete selected analyses and their files", permissions=["delete"])
    def delete_with_files(self, request: HttpRequest, queryset: object) -> None:
        count = analyses_delete(analyses=queryset)  # type: ignore[arg-type]
        self.message_user(request, f"Deleted {count} analyses and their files.")

    def delete_model(self, request: HttpRequest, obj: SavedAnalysis) -> None:
        analyses_delete(analyses=[obj])


class UserWithArchiveAdmin(UserAdmin):
    """The accounts app's user admin, deleting a user's saved analyses and their pictures
    with the account (the accounts app knows nothing of the archive)."""

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        account_delete(user=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            account_delete(user=user)


admin.site.unregister(User)
admin.site.register(User, UserWithArchiveAdmin)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Jobs with their state, owner and duration; staff can cancel the unfinished ones. The
    uploads and results are the users' own: the admin shows neither."""

    list_display = ("__str__", "name", "kind", "owner", "state", "progress", "duration", "created")
    list_filter = ("kind", "state", "created")
    search_fields = ("name", "owner__email", "owner__username")
    list_select_related = ("owner",)
    date_hierarchy = "created"
    fields = (
        "owner",
        "kind",
        "name",
        "state",
        "progress",
        "message",
        "error",
        "options",
        "worker",
        "created",
        "started",
        "finished",
        "heartbeat",
        "collection",
        "analysis",
    )
    readonly_fields = fields
    actions = ("cancel",)

    @admin.display(description="duration (s)")
    def duration(self, job: Job) -> float | None:
        return job.duration_seconds

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Cancel the selected jobs that are still queued or running")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        cancelled = 0
        for job in queryset.filter(state__in=[Job.State.QUEUED, Job.State.RUNNING]):
            cancelled += job_cancel(job).state == Job.State.CANCELLED
        self.message_user(request, f"{cancelled} job(s) cancelled.")


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Enrolled people with how many faces each has and, on a person's page, how many saved
    faces are theirs; signatures are never shown."""

    list_display = ("name", "owner", "photos", "created", "updated")
    list_select_related = ("owner",)
    search_fields = ("name", "owner__email")
    list_filter = ("created",)
    fields = ("name", "owner", "photos", "appearances", "created", "updated")
    readonly_fields = ("owner", "photos", "appearances", "created", "updated")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Person]:
        people: QuerySet[Person] = super().get_queryset(request)
        return people.annotate(photo_count=Count("signatures"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        # People are enrolled by their owner, with consent; never by staff.
        return False

    @admin.display(description="enrolled faces", ordering="photo_count")
    def photos(self, person: Person) -> int:
        return int(getattr(person, "photo_count", 0))

    @admin.display(description="appearances (saved faces, in how many analyses)")
    def appearances(self, person: Person) -> str:
        # A search of the owner's saved faces: on a person's page only, never in the list,
        # and only while the owner has identity features on (as on their own pages).
        if not person.owner.identity_enabled:
            return "— (identity features are off for this user)"
        found = people.appearances(person=person)
        return f"{found.faces} in {found.photos}"
