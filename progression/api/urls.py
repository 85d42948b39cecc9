from django.urls import path

from progression.api import views

checkins = views.CheckInViewSet.as_view({"get": "list", "post": "create"})

urlpatterns = [
    path("me/", views.MeView.as_view(), name="me"),
    path("me/bootstrap/", views.BootstrapView.as_view(), name="me-bootstrap"),
    path("me/events/", views.EventListView.as_view(), name="me-events"),
    path("me/pause/", views.PauseView.as_view(), name="me-pause"),
    path("me/streak/repair/", views.StreakRepairView.as_view(), name="me-streak-repair"),
    path("checkins/", checkins, name="checkins"),
]
