"""The admin site (Django's, plus the engagement overview page) and admin pieces shared by the apps."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import path
from django.utils import timezone


class EngagementAdminSite(admin.AdminSite):
    """Django's admin site with the "Engagement overview" page (analytics.views.overview).

    The page lives at /admin/overview/ (URL name admin:overview) behind admin_view, so it gets
    the admin's login, staff check, CSRF protection and never-cache headers; the index links
    it above the app list. Installed as the default site by engagement.apps.EngagementAdminConfig.
    """

    index_template = "admin/engagement/index.html"

    def get_urls(self):
        return [path("overview/", self.admin_view(self.overview_view), name="overview"), *super().get_urls()]

    def overview_view(self, request):
        from analytics.views import overview

        return overview(request, site=self)


class CatalogAdminMixin:
    """For a catalog of definitions keyed by slug: the slug is the primary key, so it is typed once
    (prepopulated from `slug_from`) and then fixed, as are `fixed_fields` (changing the slug would
    create a second row, not rename this one); the timestamps are read-only."""

    slug_from: str
    fixed_fields: tuple[str, ...] = ()

    def get_readonly_fields(self, request, obj=None):
        timestamps = ("created_at", "updated_at")
        return (*timestamps, "slug", *self.fixed_fields) if obj else timestamps

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj else {"slug": (self.slug_from,)}


def set_active(modeladmin, request, queryset, *, active: bool, noun: str) -> None:
    """Bulk activate/deactivate catalog rows in one UPDATE (updated_at kept true), and say so."""
    count = queryset.update(is_active=active, updated_at=timezone.now())
    verb = "activated" if active else "deactivated"
    modeladmin.message_user(request, f"{count} {noun}(s) {verb}.", messages.SUCCESS)


def action_page_context(modeladmin, request, *, title: str, **context) -> dict:
    """The context of a page an admin action answers with: the site's, the title, the model's options."""
    return {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": modeladmin.model._meta,
        **context,
    }
