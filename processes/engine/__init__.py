"""The SpiffWorkflow adapter: the only package that imports SpiffWorkflow (and never Django).

See README.md in this folder for the API and docs/conventions.md for the contracts it implements.
"""

from .bundle import Bundle, bundle_check_xml, bundle_load, bundle_model, bundle_validate
from .calendar import BusinessCalendar, get_default_calendar, set_default_calendar
from .errors import BundleInvalid, EngineError, ExpressionError, Problem
from .migrate import MigrationReport, workflow_migrate, workflow_migration_check
from .schema import BPMN_XSD_PATH
from .workflow import STATE_VERSION, TimerInfo, UserTaskInfo, Workflow, workflow_load, workflow_start

__all__ = [
    "BPMN_XSD_PATH",
    "STATE_VERSION",
    "Bundle",
    "BundleInvalid",
    "BusinessCalendar",
    "EngineError",
    "ExpressionError",
    "MigrationReport",
    "Problem",
    "TimerInfo",
    "UserTaskInfo",
    "Workflow",
    "bundle_check_xml",
    "bundle_load",
    "bundle_model",
    "bundle_validate",
    "get_default_calendar",
    "set_default_calendar",
    "workflow_load",
    "workflow_migrate",
    "workflow_migration_check",
    "workflow_start",
]
