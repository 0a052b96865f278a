import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from processes.models import ProcessInstance


class Command(BaseCommand):
    help = "Show a case: status, open tasks, waiting timers and the error, if any."

    def add_arguments(self, parser):
        parser.add_argument("instance_id")
        parser.add_argument("--data", action="store_true", help="also print the engine state size")

    def handle(self, *args, **options):
        try:
            instance = ProcessInstance.objects.select_related("version__definition", "unit").get(
                pk=options["instance_id"]
            )
        except (ProcessInstance.DoesNotExist, ValueError, ValidationError) as exc:
            raise CommandError(f"No case {options['instance_id']}") from exc
        w = self.stdout.write
        w(f"{instance.pk}  {instance.version}  {instance.unit}  {instance.status}")
        w(f"  revision {instance.revision}, state format {instance.state_version}")
        if instance.error_code:
            w(f"  error at {instance.error_element_id}: {instance.error_message}")
            w(f"  expression: {instance.error_expression}")
        for task in instance.user_tasks.order_by("ready_at", "pk"):
            due = f"{task.due_at:%Y-%m-%d %H:%M}" if task.due_at else "-"
            w(f"  task {task.pk} {task.element_id} ({task.lane}) {task.status} due {due}")
        for timer in instance.timers.order_by("due_at"):
            w(f"  timer {timer.element_id} ({timer.kind}) due {timer.due_at:%Y-%m-%d %H:%M}")
        if instance.end_events:
            w(f"  ended at {', '.join(instance.end_events)}")
        if options["data"]:
            w(f"  state {len(json.dumps(instance.state)) / 1024:.1f} kB")
