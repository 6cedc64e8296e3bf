"""Point each request at the active solution version."""
from .registry import registry


class ActiveSolutionMiddleware:
    """Make sure this process serves the published version, then route the request through it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        built = registry.ensure_current()
        if built is not None:
            request.urlconf = built.urlconf
            request.solution = built
        return self.get_response(request)
