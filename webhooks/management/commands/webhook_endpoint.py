"""manage.py webhook_endpoint add|list|disable: manage webhook receivers from a shell."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

from engagement.commands import UsageError, invalid_options
from webhooks import services
from webhooks.messages import TYPES
from webhooks.models import WebhookEndpoint


class Command(BaseCommand):
    help = (
        "Webhook endpoints. `add --url U [--events t1,t2]` creates one and prints its id and its "
        "secret (shown this once); `list` shows them; `disable ID` stops deliveries to one. "
        "Exit status: 0 done, 2 invalid input or unknown endpoint."
    )

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True)
        add = commands.add_parser("add", help="Create an endpoint; prints its id and secret.")
        add.add_argument("--url", required=True, help="https URL of the receiver (public addresses only).")
        add.add_argument(
            "--events",
            default="",
            help=f"Comma-separated message types (default: every type). Known: {', '.join(TYPES)}.",
        )
        add.add_argument("--description", default="", help="A note for operators.")
        commands.add_parser("list", help="List the endpoints.")
        disable = commands.add_parser("disable", help="Disable an endpoint.")
        disable.add_argument("id", type=int, help="The endpoint id (see list).")

    def handle(self, *args, action, **options):
        getattr(self, f"handle_{action}")(**options)

    def handle_add(self, *, url, events, description, **options):
        event_types = [name.strip() for name in events.split(",") if name.strip()]
        try:
            endpoint = services.create_endpoint(url=url, event_types=event_types, description=description)
        except ValidationError as exc:
            raise invalid_options(exc.message_dict, {"event_types": "--events"}) from exc
        self.stdout.write(f"id: {endpoint.pk}")
        self.stdout.write(f"secret: {endpoint.secret}")
        self.stdout.write("The secret is shown this once: give it to the receiver now.")

    def handle_list(self, **options):
        endpoints = WebhookEndpoint.objects.order_by("pk")
        if not endpoints:
            self.stdout.write("No webhook endpoints.")
        for endpoint in endpoints:
            state = (
                "active"
                if endpoint.is_active
                else f"disabled ({endpoint.disabled_reason or 'by an operator'})"
            )
            types = ",".join(endpoint.event_types) or "all"
            self.stdout.write(
                f"{endpoint.pk}\t{endpoint.url}\t{types}\t{state}\t"
                f"{endpoint.consecutive_failures} consecutive failures"
            )

    def handle_disable(self, *, id, **options):
        endpoint = WebhookEndpoint.objects.filter(pk=id).first()
        if endpoint is None:
            raise UsageError(f"No webhook endpoint with id {id}.")
        services.disable_endpoint(endpoint=endpoint)
        self.stdout.write(f"Endpoint {id} ({endpoint.url}) disabled.")
