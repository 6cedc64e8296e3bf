"""``manage.py cabinet_timers``: fire the workflow timers that are due, once or every N seconds.

Celery beat runs the same sweep every minute where there is a broker; this is the embedded default.
"""
from django.core.management.base import BaseCommand, CommandError

from engine.workflows.timers import run_forever, sweep


class Command(BaseCommand):
    help = "Fire due workflow timers once, or every SECONDS with --loop SECONDS (until stopped)."

    def add_arguments(self, parser):
        parser.add_argument("--loop", type=float, metavar="SECONDS", help="sweep again every SECONDS")
        parser.add_argument("--limit", type=int, default=100, help="timers fired per sweep at most (default 100)")

    def handle(self, *args, loop=None, limit=100, **options):
        if limit < 1 or (loop is not None and loop <= 0):
            raise CommandError("--limit and --loop must be positive", returncode=2)
        if loop is None:
            outcomes = sweep(limit=limit)
            self.stdout.write(", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "no timer was due")
            return
        self.stdout.write(f"Sweeping timers every {loop:g} s (Ctrl+C to stop)")
        try:
            run_forever(loop, limit=limit)
        except KeyboardInterrupt:
            self.stdout.write("stopped")
