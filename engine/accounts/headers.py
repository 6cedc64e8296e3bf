"""Security headers that Django does not set itself."""
from django.conf import settings


class PermissionsPolicyMiddleware:
    """Send ``Permissions-Policy`` (``CABINET_PERMISSIONS_POLICY``): browser features the cabinet never uses
    stay off, even for injected content."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.CABINET_PERMISSIONS_POLICY
        if policy:
            response.headers.setdefault("Permissions-Policy", policy)
        return response
