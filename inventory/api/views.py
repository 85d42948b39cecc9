"""tools/ (public catalog), tools/{slug}/buy/, inventory/, inventory/{slug}/use/."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from engagement.errors import ToolNotFound
from engagement.schema import THROTTLED, UNAUTHORIZED, VALIDATION, error_response
from engagement.serializers import require_empty_body
from inventory import selectors, services
from inventory.api import serializers as s
from progression import selectors as progression_selectors
from progression.api.serializers import state_data
from progression.api.views import render_change
from progression.services import get_rules

TOOL_NOT_FOUND = {404: error_response("Unknown or inactive tool.", "tool_not_found")}


class ToolListView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(tags=["tools"], responses={200: s.ToolSerializer(many=True), **THROTTLED}, auth=[])
    def get(self, request):
        return Response(s.ToolSerializer(selectors.active_tools(), many=True).data)


class ToolDetailView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(tags=["tools"], responses={200: s.ToolSerializer, **TOOL_NOT_FOUND, **THROTTLED}, auth=[])
    def get(self, request, slug):
        tool = selectors.active_tools().filter(slug=slug).first()
        if tool is None:
            raise ToolNotFound()
        return Response(s.ToolSerializer(tool).data)


class ToolBuyView(APIView):
    @extend_schema(
        tags=["tools"],
        request=s.BuyInputSerializer,
        responses={
            201: s.PurchaseResultSerializer,
            **VALIDATION,
            **UNAUTHORIZED,
            **TOOL_NOT_FOUND,
            409: error_response("The purchase cannot be made.", "insufficient_loyalty", "inventory_full"),
            **THROTTLED,
        },
    )
    def post(self, request, slug):
        data = s.BuyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.buy_tool(user=request.user, slug=slug, **data.validated_data)
        body = {
            "item": {"tool": s.ToolSerializer(result.tool).data, "quantity": result.quantity},
            "state": state_data(result.change.after),
        }
        return Response(body, status=status.HTTP_201_CREATED)


class InventoryView(APIView):
    @extend_schema(tags=["inventory"], responses={200: s.InventorySerializer, **UNAUTHORIZED, **THROTTLED})
    def get(self, request):
        items = selectors.inventory_of(request.user)
        state = progression_selectors.get_state(request.user)
        capacity = state.inventory_capacity if state else get_rules().inventory_capacity
        body = {
            "items": [{"tool": s.ToolSerializer(i.tool).data, "quantity": i.quantity} for i in items],
            "used": sum(i.quantity for i in items),
            "capacity": capacity,
        }
        return Response(body)


class ToolUseView(APIView):
    @extend_schema(
        tags=["inventory"],
        request=None,
        responses={
            200: s.UseResultSerializer,
            **UNAUTHORIZED,
            **TOOL_NOT_FOUND,
            409: error_response("You do not hold this tool.", "not_in_inventory"),
            **THROTTLED,
        },
    )
    def post(self, request, slug):
        require_empty_body(request)
        result = services.use_tool(user=request.user, slug=slug)
        body = render_change(
            result.change, tool=s.ToolSerializer(result.tool).data, remaining=result.remaining
        )
        return Response(body)
