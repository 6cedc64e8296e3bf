"""``manage.py cabinet``: check, plan, migrate, export and roll back solution versions; import a folder
as a builder draft and list the drafts."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from engine.compiler import compile_folder, compile_sources
from engine.errors import Problem


class Command(BaseCommand):
    help = ("Work with the cabinet solution: check | plan | migrate | versions | export | rollback | "
            "draft import | drafts.")
    requires_system_checks = []  # 'check' reports the solution's problems itself, located

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, parser_class=type(parser))
        check = sub.add_parser("check", help="Validate a solution folder; exit 1 on errors.",
                               called_from_command_line=True)
        check.add_argument("path", nargs="?", help="solution folder (default: CABINET_SOLUTION)")
        plan = sub.add_parser("plan", help="Show what migrating to a solution folder would do.",
                              called_from_command_line=True)
        plan.add_argument("path", nargs="?")
        migrate = sub.add_parser("migrate", help="Apply a solution folder to the database and publish it.",
                                 called_from_command_line=True)
        migrate.add_argument("path", nargs="?")
        migrate.add_argument("--allow-data-loss", action="store_true",
                             help="allow drops and narrowing changes that lose data")
        migrate.add_argument("--note", default="", help="a note stored with the version")
        migrate.add_argument("--plan", dest="expected_plan", metavar="HASH",
                             help="apply only the plan with this hash (as 'cabinet plan' printed it)")
        sub.add_parser("versions", help="List the applied versions.", called_from_command_line=True)
        export = sub.add_parser("export", help="Write a version's YAML files to a folder.",
                                called_from_command_line=True)
        export.add_argument("directory")
        export.add_argument("--version", type=int, help="version number (default: the published one)")
        rollback = sub.add_parser("rollback", help="Publish an earlier version's definitions again.",
                                  called_from_command_line=True)
        rollback.add_argument("version", type=int)
        rollback.add_argument("--allow-data-loss", action="store_true")
        rollback.add_argument("--plan", dest="expected_plan", metavar="HASH")
        draft = sub.add_parser("draft", help="Builder drafts: 'draft import <folder>' makes one from files.",
                               called_from_command_line=True)
        draft_sub = draft.add_subparsers(dest="draft_action", required=True, parser_class=type(parser))
        draft_import = draft_sub.add_parser("import", help="Import a solution folder (e.g. changed in git) as a "
                                            "draft and print its plan.", called_from_command_line=True)
        draft_import.add_argument("path", nargs="?", help="solution folder (default: CABINET_SOLUTION)")
        draft_import.add_argument("--user", help="the username the draft is made for (default: none)")
        sub.add_parser("drafts", help="List the builder's drafts.", called_from_command_line=True)

    def handle(self, *args, action, **options):
        return getattr(self, f"do_{action}")(**options) or None

    # --- helpers ---------------------------------------------------------------------------

    def report(self, problems):
        for problem in problems:
            style = self.style.ERROR if problem.is_error else self.style.WARNING
            self.stderr.write(style(str(problem)))

    def compiled(self, path):
        folder = Path(path) if path else Path(settings.CABINET_SOLUTION)
        result = compile_folder(folder)
        self.report(result.problems)
        if result.errors:
            raise CommandError(f"{len(result.errors)} error(s) in {folder}", returncode=1)
        return folder, result

    def engine_tables(self, create):
        """Make sure Django's own tables (the engine's version table among them) exist and are current.

        ``migrate`` and ``rollback`` run Django's ``migrate`` first when anything is unapplied; read-only
        actions say what to run instead of failing on a missing table. Return whether the tables exist.
        """
        from django.db import connection
        from django.db.migrations.executor import MigrationExecutor

        from engine.models import SolutionVersion

        if create:
            executor = MigrationExecutor(connection)
            if executor.migration_plan(executor.loader.graph.leaf_nodes()):
                from django.core.management import call_command

                self.stdout.write("Applying Django's own migrations first (manage.py migrate).")
                call_command("migrate", interactive=False, verbosity=0)
            return True
        with connection.cursor() as cursor:
            return SolutionVersion._meta.db_table in connection.introspection.table_names(cursor)

    def fail(self, problems):
        self.report(problems)
        raise CommandError(f"{len(problems)} problem(s); nothing was changed", returncode=1)

    # --- actions ---------------------------------------------------------------------------

    def do_check(self, path=None, **options):
        folder, result = self.compiled(path)
        spec = result.spec
        self.stdout.write(self.style.SUCCESS(
            f"{folder}: solution '{spec.name}' is valid ({len(spec.entities)} entities, {len(spec.roles)} roles, "
            f"{len(spec.pages)} pages, {len(spec.workflows)} workflows; {len(result.warnings)} warning(s))"))

    def do_plan(self, path=None, **options):
        from engine.migrate import MigrationError, plan_for

        _, result = self.compiled(path)
        if not self.engine_tables(create=False):
            self.stdout.write("The database has no engine tables yet (a fresh database): 'cabinet migrate' "
                              "creates them; the plan below starts from an empty database.")
            plan, number = make_plan_from_empty(result.spec), 0
        else:
            try:
                plan, current = plan_for(result.spec)
            except MigrationError as exc:
                self.fail(exc.problems)
            number = current.number if current else 0
        self.stdout.write(plan.describe(number, number + 1))
        self.stdout.write(f"Plan hash: {plan.digest(number, number + 1)} (apply exactly this plan with "
                          f"'cabinet migrate --plan {plan.digest(number, number + 1)}')")
        if plan.refusals:
            self.stdout.write(self.style.WARNING(
                f"{len(plan.refusals)} operation(s) refused: migrate stops unless the issues are fixed"
                + (" or --allow-data-loss is given" if any(op.overridable for op in plan.operations if op.refusal)
                   else "")))

    def do_migrate(self, path=None, allow_data_loss=False, note="", expected_plan=None, **options):
        folder, result = self.compiled(path)
        self.engine_tables(create=True)
        self.publish(result.spec, result.sources, allow_data_loss, note, str(folder), expected_plan)

    def publish(self, spec, sources, allow_data_loss, note, origin, expected_plan=None):
        """Print the plan and its hash, then apply exactly that plan (or the one ``--plan`` names)."""
        from engine.migrate import MigrationError, applied, plan_for, publish

        try:
            current, _ = applied()
            if current and current.sources == sources:
                self.stdout.write(f"Version {current.number} already holds these definitions; nothing to do.")
                return
            plan, current = plan_for(spec)
        except MigrationError as exc:
            self.fail(exc.problems)
        number = current.number if current else 0
        digest = plan.digest(number, number + 1)
        self.stdout.write(plan.describe(number, number + 1))
        self.stdout.write(f"Plan hash: {digest}")
        try:
            built, _ = publish(spec, sources, allow_data_loss=allow_data_loss, note=note, origin=origin,
                               expected_plan=expected_plan or digest)
        except MigrationError as exc:
            self.fail(exc.problems)
        self.stdout.write(self.style.SUCCESS(f"Published '{spec.name}' version {built.number}."))

    def do_versions(self, **options):
        from engine.models import SolutionVersion

        if not self.engine_tables(create=False):
            self.stdout.write("No version applied yet (the database has no engine tables: run "
                              "'python manage.py cabinet migrate', which creates them).")
            return
        versions = SolutionVersion.objects.order_by("-number")
        if not versions:
            self.stdout.write("No version applied yet.")
        for v in versions:
            self.stdout.write(f"v{v.number}  {v.created_at:%Y-%m-%d %H:%M}  {v.solution}  {v.digest[:10]}  "
                              f"{v.origin}  {v.note}")

    def version(self, number):
        from engine.models import SolutionVersion

        if not self.engine_tables(create=False):
            raise CommandError("no version applied yet (the database has no engine tables: run "
                               "'python manage.py cabinet migrate')", returncode=1)
        qs = SolutionVersion.objects.order_by("-number")
        version = qs.filter(number=number).first() if number else qs.first()
        if version is None:
            raise CommandError(f"no version {number}" if number else "no version applied yet", returncode=1)
        return version

    def do_export(self, directory, version=None, **options):
        v = self.version(version)
        root = Path(directory)
        for rel, text in v.sources.items():
            target = (root / rel).resolve()
            if root.resolve() not in target.parents:
                raise CommandError(f"refusing to write outside {root}: {rel}", returncode=1)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        self.stdout.write(f"Wrote {len(v.sources)} file(s) of version {v.number} to {root}.")

    def do_rollback(self, version, allow_data_loss=False, expected_plan=None, **options):
        self.engine_tables(create=True)
        v = self.version(version)
        result = compile_sources(v.sources)
        if result.errors:
            self.fail(result.errors)
        self.publish(result.spec, v.sources, allow_data_loss, f"rollback to v{v.number}", f"v{v.number}",
                     expected_plan)

    def do_draft(self, draft_action, path=None, user=None, **options):
        from engine.builder import drafts
        from engine.builder.errors import BuilderError

        self.engine_tables(create=True)
        folder = Path(path) if path else Path(settings.CABINET_SOLUTION)
        try:
            draft = drafts.import_folder(str(folder), self.user_named(user))
        except BuilderError as exc:
            raise CommandError(f"{exc.message} {exc.fields or ''}".strip(), returncode=1) from exc
        changed = [f"{e['op'].replace('_file', '')} {e['path']}" for e in draft.edits]
        self.stdout.write(f"Draft #{draft.pk} on version {draft.base}: {', '.join(changed) or 'no file changed'}.")
        compiled = drafts.check(draft)
        self.report(compiled.problems)
        if compiled.errors:
            self.stdout.write(self.style.WARNING(f"{len(compiled.errors)} error(s): fix them in the builder or the "
                                                 "files before publishing."))
            return
        try:
            view = drafts.plan(draft)
        except BuilderError as exc:
            raise CommandError(exc.message, returncode=1) from exc
        self.stdout.write(view.text)
        for step in view.steps:
            counts = "" if step.rows is None else f" ({step.rows} rows" + (
                f", {step.values} values" if step.values is not None else "") + ")"
            self.stdout.write(f"  [{step.grade}{', blocked' if step.blocking else ''}] {step.text}{counts}")
        self.stdout.write(f"Plan hash: {view.digest}. Review and publish it in the builder at "
                          f"/builder/d/{draft.pk}/plan/.")

    def user_named(self, username):
        if not username:
            return None
        from django.contrib.auth import get_user_model

        found = get_user_model().objects.filter(username=username).first()
        if found is None:
            raise CommandError(f"no user '{username}'", returncode=1)
        return found

    def do_drafts(self, **options):
        from engine.builder.models import Draft

        if not self.engine_tables(create=False):
            self.stdout.write("No drafts (the database has no engine tables yet).")
            return
        rows = Draft.objects.select_related("created_by").order_by("-updated_at", "-id")
        if not rows:
            self.stdout.write("No drafts.")
        for d in rows:
            who = d.created_by.get_username() if d.created_by else "-"
            published = f" -> v{d.published_as}" if d.published_as else ""
            self.stdout.write(f"#{d.pk}  {d.status}{published}  on v{d.base}  {d.updated_at:%Y-%m-%d %H:%M}  {who}  "
                              f"{len(d.edits)} edit(s)  {d.origin}  {d.title}")


def make_plan_from_empty(spec):
    """The plan of a first publish, without reading the (missing) engine tables."""
    from django.db import connection

    from engine.migrate import make_plan

    return make_plan(None, spec, connection)


__all__ = ["Command", "Problem"]
