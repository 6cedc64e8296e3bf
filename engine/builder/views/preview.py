"""Builder views (filled in by the issue 12 stream that owns this module)."""

urlpatterns = []
