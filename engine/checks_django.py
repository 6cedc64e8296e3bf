"""Surface the solution's problems through Django's system-check framework."""
from django.conf import settings
from django.core import checks


@checks.register("cabinet")
def check_solution(app_configs=None, **kwargs):
    """Compile the configured solution folder and report its problems as system checks."""
    from .compiler import compile_folder

    messages = []
    for problem in compile_folder(settings.CABINET_SOLUTION).problems:
        cls = checks.Error if problem.is_error else checks.Warning
        place, message, hint = problem.shown
        messages.append(cls(f"{place}: {message}", hint=hint or None, id=problem.id))
    return messages
