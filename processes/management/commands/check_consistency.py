import json

from django.core.management.base import BaseCommand

from processes.services.consistency import consistency_check


class Command(BaseCommand):
    help = (
        "Check that every case, task, bulk start and audit event agrees with the others and that the "
        "audit chain verifies (after a crash, a restore or a load test). Exit code 1 when not."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument(
            "--skip-engine-states",
            action="store_true",
            help="do not load every open case's engine state (faster on a large database)",
        )

    def handle(self, *args, **options):
        report = consistency_check(engine_states=not options["skip_engine_states"])
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            self.stdout.write(
                f"{report.instances} cases ({report.instances_in_error} in error), "
                f"{report.user_tasks} tasks, {report.audit_events} audit events checked"
            )
            for problem in report.problems:
                where = " ".join(
                    part
                    for part in (
                        f"case {problem.instance_id}" if problem.instance_id else "",
                        f"task {problem.user_task_id}" if problem.user_task_id else "",
                    )
                    if part
                )
                self.stdout.write(f"  {problem.rule}: {problem.detail} {where}".rstrip())
            for rule, count in sorted(report.problem_counts.items()):
                self.stdout.write(f"{rule}: {count}")
            self.stdout.write(
                self.style.SUCCESS("consistent") if report.ok else self.style.ERROR("NOT consistent")
            )
        if not report.ok:
            raise SystemExit(1)
