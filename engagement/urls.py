"""URL map: /api/v1/ (the API), /api/schema/ and /api/docs/, probes, /metrics, /admin/."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from engagement import views
from engagement.metrics import metrics_view

api_v1 = [
    path("auth/", include("accounts.api.urls")),
    path("", include("progression.api.urls")),
    path("", include("inventory.api.urls")),
    path("", include("rewards.api.urls")),
    path("", include("leaderboards.api.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", views.DocsView.as_view(url_name="schema"), name="docs"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
]

handler400 = "engagement.views.bad_request"
handler403 = "engagement.views.permission_denied"
handler404 = "engagement.views.not_found"
handler500 = "engagement.views.server_error"
