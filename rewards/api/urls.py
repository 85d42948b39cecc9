from django.urls import path

from rewards.api import views

urlpatterns = [
    path("rewards/", views.RewardListView.as_view(), name="rewards"),
    path("rewards/<slug:slug>/claim/", views.RewardClaimView.as_view(), name="reward-claim"),
]
