from django.urls import path

from leaderboards.api import views

urlpatterns = [
    path("leaderboards/", views.LeaderboardListView.as_view(), name="leaderboards"),
    path("leaderboards/<slug:slug>/", views.LeaderboardView.as_view(), name="leaderboard"),
    path("leaderboards/<slug:slug>/me/", views.MyStandingView.as_view(), name="leaderboard-me"),
]
