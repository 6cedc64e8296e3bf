"""``manage.py demo``: migrate, publish the solution, load its demo data and serve it."""
import threading
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from engine.compiler import compile_folder
from engine.demo import DemoDataError, load_demo
from engine.errors import escape
from engine.workflows.timers import run_forever

TIMER_INTERVAL = 30  # seconds between two sweeps of due workflow timers while the demo serves


class Command(BaseCommand):
    help = "Set up the demo of the configured solution (SQLite by default) and serve it on 127.0.0.1:8000."

    def add_arguments(self, parser):
        parser.add_argument("--seed-only", action="store_true", help="load everything but do not serve")
        parser.add_argument("--addrport", default="127.0.0.1:8000", help="where to serve (default 127.0.0.1:8000)")

    def handle(self, *args, seed_only=False, addrport="127.0.0.1:8000", **options):
        from engine.migrate import MigrationError, applied, publish
        from engine.registry import registry

        folder = Path(settings.CABINET_SOLUTION)
        result = compile_folder(folder)  # definitions and data/*.yaml, before anything is written
        for problem in result.problems:
            self.stderr.write(str(problem))
        if result.errors:
            raise CommandError(f"the solution in {folder} has {len(result.errors)} error(s); nothing was written",
                               returncode=1)
        call_command("migrate", interactive=False, verbosity=0)
        current, _ = applied()
        try:
            if current is None or current.sources != result.sources:
                built, plan = publish(result.spec, result.sources, origin=str(folder), note="demo")
                self.stdout.write(plan.describe(current.number if current else 0, built.number))
            else:
                built = registry.populate()
        except MigrationError as exc:
            for problem in exc.problems:
                self.stderr.write(str(problem))
            raise CommandError("the demo database cannot take this solution; delete var/ to start afresh",
                               returncode=1) from exc
        counts = {}
        if result.data is not None:
            try:
                counts = load_demo(built, result.data)
            except DemoDataError as exc:
                raise CommandError(f"demo data was not loaded (nothing of it was written): {escape(str(exc))}",
                                   returncode=1) from exc
        if counts:
            self.stdout.write("Loaded demo records: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        self.stdout.write(self.style.SUCCESS(f"Demo of '{built.spec.name}' version {built.number} is ready."))
        self.write_logins(result.data)
        if seed_only:
            return
        call_command("collectstatic", interactive=False, verbosity=0)
        # Workflow timers fire without Celery beat: a thread sweeps them beside the server.
        threading.Thread(target=run_forever, args=(TIMER_INTERVAL,), daemon=True, name="cabinet-timers").start()
        self.stdout.write(f"Serving on http://{addrport}/  (Ctrl+C to stop; timers are swept every {TIMER_INTERVAL} s)")
        call_command("runserver", addrport, use_reloader=False, skip_checks=True)

    def write_logins(self, data):
        """Print the logins the solution's own data defines (none without data files)."""
        users = data.users if data is not None else []
        if not users:
            self.stdout.write("The solution's data defines no logins; create one with 'manage.py createsuperuser'.")
            return
        self.stdout.write("Logins (username / password / roles):")
        for user in users:
            roles = ", ".join((*user.roles, *(["superuser"] if user.superuser else []))) or "no role"
            self.stdout.write(escape(f"  {user.username:<10} {user.password:<15} {roles}"))
