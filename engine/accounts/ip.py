"""The client's address: ``REMOTE_ADDR``, unless the request came through a configured proxy.

``X-Forwarded-For`` is only as trustworthy as the hop that wrote it. Addresses are read from the
right (the hop nearest to us) and every address that belongs to ``CABINET_TRUSTED_PROXIES`` is
skipped; the first one that does not is the client. With no trusted proxies (the default) the header
is ignored, so changing it cannot make one client look like many.
"""
from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=16)
def _networks(proxies):
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def trusted_networks():
    """The networks of ``CABINET_TRUSTED_PROXIES`` (addresses or CIDR blocks)."""
    return _networks(tuple(settings.CABINET_TRUSTED_PROXIES))


def _parse(value):
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address, networks):
    return address is not None and any(address in net for net in networks)


def client_ip(request):
    """Return the client's IP address as a string (``REMOTE_ADDR`` unless a trusted proxy forwarded)."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    networks = trusted_networks()
    if not networks or not _trusted(_parse(remote), networks):
        return remote
    hops = [h for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            # A malformed entry written by someone we do not trust: stop at the last good hop.
            break
        if not _trusted(address, networks):
            return str(address)
        remote = str(address)
    return remote
