"""tools/ (public catalog), tools/{slug}/buy/, inventory/, inventory/{slug}/use/."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from engagement import errors
from engagement.schema import THROTTLED, UNAUTHORIZED, VALIDATION, error_response
from engagement.serializers import require_empty_body, validated_body
from inventory import selectors, services
from inventory.api import serializers as s

TOOL_NOT_FOUND = {404: error_response("Unknown or inactive tool.", errors.ToolNotFound)}


class ToolListView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(tags=["tools"], responses={200: s.ToolSerializer(many=True), **THROTTLED})
    def get(self, request):
        return Response(s.ToolSerializer(selectors.active_tools(), many=True).data)


class ToolDetailView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(tags=["tools"], responses={200: s.ToolSerializer, **TOOL_NOT_FOUND, **THROTTLED})
    def get(self, request, slug):
        tool = selectors.active_tools().filter(slug=slug).first()
        if tool is None:
            raise errors.ToolNotFound()
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
            409: error_response(
                "The purchase cannot be made.",
                errors.InsufficientLoyalty,
                errors.InventoryFull,
                errors.MaxHeldReached,
            ),
            **THROTTLED,
        },
    )
    def post(self, request, slug):
        quantity = validated_body(s.BuyInputSerializer, request)["quantity"]
        result = services.buy_tool(user=request.user, slug=slug, quantity=quantity)
        return Response(s.purchase_result_data(result), status=status.HTTP_201_CREATED)


class InventoryView(APIView):
    @extend_schema(tags=["inventory"], responses={200: s.InventorySerializer, **UNAUTHORIZED, **THROTTLED})
    def get(self, request):
        return Response(s.InventorySerializer(selectors.inventory_of(request.user)).data)


class ToolUseView(APIView):
    @extend_schema(
        tags=["inventory"],
        request=None,
        responses={
            200: s.UseResultSerializer,
            **UNAUTHORIZED,
            **TOOL_NOT_FOUND,
            409: error_response(
                "You do not hold this tool, or it is not used by hand (a streak freeze).",
                errors.NotInInventory,
                errors.NotUsable,
            ),
            **THROTTLED,
        },
    )
    def post(self, request, slug):
        require_empty_body(request)
        result = services.use_tool(user=request.user, slug=slug)
        return Response(s.use_result_data(result))
