"""WSGI entry point (gunicorn engagement.wsgi): Django, behind the request-body buffer."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from engagement.serving import BufferedRequestBody

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engagement.settings")

application = BufferedRequestBody(
    get_wsgi_application(),
    limit=settings.MAX_REQUEST_BODY_BYTES,
    timeout=settings.REQUEST_BODY_TIMEOUT,
)
