from django.urls import path

from inventory.api import views

urlpatterns = [
    path("tools/", views.ToolListView.as_view(), name="tools"),
    path("tools/<slug:slug>/", views.ToolDetailView.as_view(), name="tool-detail"),
    path("tools/<slug:slug>/buy/", views.ToolBuyView.as_view(), name="tool-buy"),
    path("inventory/", views.InventoryView.as_view(), name="inventory"),
    path("inventory/<slug:slug>/use/", views.ToolUseView.as_view(), name="tool-use"),
]
