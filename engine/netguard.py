"""Outgoing HTTP to public addresses only: the guard against server-side request forgery.

Webhook URLs come from definitions that business admins may edit, so a URL must not reach the
machine itself, the private network or cloud metadata services. The host is resolved when the
connection is made, every address it resolves to is checked, and the connection goes to the
checked address (no second lookup that DNS rebinding could answer differently). Redirects open new
connections and pass the same check.
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class RefusedTarget(Exception):
    """The URL's host is (or resolves to) an address webhooks may not reach."""


def address_kind(address):
    """Why ``address`` is not public ('loopback', 'private', ...), or '' when it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    if not address.is_global:
        return "not public"
    return ""


def _allowed(host, address):
    if settings.CABINET_WEBHOOK_ALLOW_PRIVATE:
        return True
    for entry in settings.CABINET_WEBHOOK_ALLOWED_HOSTS:
        entry = entry.strip().lower()
        if entry == host.lower().rstrip("."):
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def vetted_address(host, port):
    """Resolve ``host``; refuse it if any address is not public (and not allowed); return one address."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        kind = address_kind(address)
        if kind and not _allowed(host, address):
            raise RefusedTarget(
                f"refused: {host} resolves to {address} ({kind}); webhooks go to public addresses only "
                "(allow it with CABINET_WEBHOOK_ALLOWED_HOSTS or CABINET_WEBHOOK_ALLOW_PRIVATE=1)")
        addresses.append(str(address))
    if not addresses:
        raise socket.gaierror(f"{host} has no address")
    return addresses[0]


class _GuardMixin:
    def _new_conn(self):
        original = self._dns_host
        self._dns_host = vetted_address(original, self.port)
        try:
            return super()._new_conn()
        finally:
            self._dns_host = original


class GuardedHTTPConnection(_GuardMixin, HTTPConnection):
    """An HTTP connection to a vetted address."""


class GuardedHTTPSConnection(_GuardMixin, HTTPSConnection):
    """An HTTPS connection to a vetted address (the certificate is still checked against the host name)."""


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections go to vetted addresses only."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def check_url(url):
    """Refuse URLs that are not plain http(s) with a host (before any connection is tried)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedTarget(f"refused: {url!r} is not an http(s) URL with a host")
    if parts.username or parts.password:
        raise RefusedTarget("refused: credentials in the URL; send a secret with secret_env instead")


def session(max_redirects=3):
    """A requests session that reaches public addresses only and ignores proxy settings of the
    environment (a proxy would make the connection, so its target could not be checked)."""
    s = requests.Session()
    s.trust_env = False
    s.max_redirects = max_redirects
    adapter = GuardedAdapter()
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s
