"""Builder views: the overview (filled in by the shell stream of issue 12)."""
from django.urls import path

from .common import builder_view, render_builder


@builder_view
def home(request):
    return render_builder(request, "builder/home.html", {"section": "home"})


urlpatterns = [path("", home, name="home")]
