"""DRF throttles that identify anonymous clients by ``client_ip`` (proxy headers only from trusted proxies)."""
from rest_framework import throttling

from .ip import client_ip


class ClientIpMixin:
    def get_ident(self, request):
        return client_ip(request)


class AnonRateThrottle(ClientIpMixin, throttling.AnonRateThrottle):
    """Anonymous requests, per client address."""


class UserRateThrottle(ClientIpMixin, throttling.UserRateThrottle):
    """Authenticated requests per user (anonymous ones per client address)."""


class ScopedRateThrottle(ClientIpMixin, throttling.ScopedRateThrottle):
    """Requests to views of one ``throttle_scope``, per user or client address."""
