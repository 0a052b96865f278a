"""Drafts: what a process owner saves while modelling. A draft may have problems (each naming its
element) and still be saved; only a draft without problems can be published as a version."""

from __future__ import annotations

import json
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from common.errors import ApplicationError, PermissionDenied
from organisation.policy import may_manage_processes
from processes.engine import BundleInvalid, bundle_check_xml, bundle_load, bundle_model, bundle_validate
from processes.models import ProcessDefinition, ProcessDraft, ProcessVersion
from processes.services.versions import (
    MAX_BUNDLE_BYTES,
    BundleFiles,
    _problems_payload,
    process_version_deploy,
    process_version_publish,
)

MAX_UPLOAD_BYTES = 1_000_000


def _require_owner(actor: Any) -> None:
    if not may_manage_processes(actor):
        raise PermissionDenied("not_process_owner", _("Only process owners may do this."))


def main_file_name(manifest: dict[str, Any], files: dict[str, str]) -> str:
    """The file holding the main process: the one defining `process_id`, else `<key>.bpmn`."""
    marker = f'id="{manifest.get("process_id")}"'
    found = [name for name, text in files.items() if not name.endswith(".dmn") and marker in text]
    return found[0] if found else f"{manifest['key']}.bpmn"


def bundle_problems(bundle: BundleFiles) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Every problem of a bundle (what process_version_deploy would refuse) and its structural model.

    Never raises for bad content: malformed XML, unsafe XML and foreign elements come back as problems.
    """
    raw = {name: text.encode() for name, text in bundle.files.items()}
    main = str(bundle.manifest.get("process_id") or "")
    problems = bundle_check_xml(raw, main, bundle.forms, max_bytes=MAX_BUNDLE_BYTES)
    if not problems:
        try:
            problems = bundle_validate(bundle_load(raw, main, max_bytes=MAX_BUNDLE_BYTES), bundle.forms)
        except BundleInvalid as exc:
            problems = exc.problems
    return _problems_payload(problems), bundle_model(raw, main, max_bytes=MAX_BUNDLE_BYTES)


def executable_process_id(text: str) -> str:
    """The id of the first executable process in a BPMN document ('' when none parses)."""
    model = bundle_model({"upload.bpmn": text.encode()}, "", max_bytes=MAX_BUNDLE_BYTES) or {}
    processes = model.get("processes", {})
    executable = [pid for pid, facts in processes.items() if facts.get("executable")]
    return (executable or list(processes) or [""])[0]


def process_draft_save(
    *,
    key: str,
    bpmn: str,
    forms: dict[str, Any] | None = None,
    author: Any,
    changelog: str = "",
    based_on: ProcessVersion | None = None,
    name_sv: str = "",
) -> ProcessDraft:
    """Save a new draft revision of process `key`: the main model `bpmn`, the forms, and the rest of
    the bundle (called processes, decision tables, manifest) from `based_on` or the latest draft.

    Problems are stored with the draft, not raised. Raises PermissionDenied `not_process_owner`,
    ApplicationError `bundle_too_large` (413) and `invalid_forms`.
    """
    _require_owner(author)
    if len(bpmn.encode()) > MAX_UPLOAD_BYTES:
        raise ApplicationError("bundle_too_large", _("The process model is larger than 1 MB."), status=413)
    if forms is not None and (
        not isinstance(forms, dict) or not all(isinstance(v, dict) for v in forms.values())
    ):
        raise ApplicationError("invalid_forms", _("Forms must be JSON objects keyed by file name."))
    previous = ProcessDraft.objects.filter(key=key).order_by("-revision").first()
    source: Any = based_on or previous
    if source is None:
        source = ProcessVersion.objects.filter(definition__key=key).order_by("-number").first()
    manifest = dict(source.manifest) if source is not None else {"key": key, "default_task_due": "P5D"}
    manifest["key"] = key
    if name_sv or "name" not in manifest:
        manifest["name"] = {"sv": name_sv or key, "en": manifest.get("name", {}).get("en", "")}
    files = dict(source.files) if source is not None else {}
    files[main_file_name(manifest, files)] = bpmn
    if f'id="{manifest.get("process_id")}"' not in bpmn:
        manifest["process_id"] = executable_process_id(bpmn) or manifest.get("process_id", key)
    all_forms = dict(source.forms) if source is not None else {}
    if forms is not None:
        all_forms = forms
    bundle = BundleFiles(manifest=manifest, files=files, forms=all_forms)
    problems, model = bundle_problems(bundle)
    for attempt in range(3):
        revision = (ProcessDraft.objects.filter(key=key).aggregate(n=Max("revision"))["n"] or 0) + 1
        try:
            with transaction.atomic():
                return ProcessDraft.objects.create(
                    key=key,
                    definition=ProcessDefinition.objects.filter(key=key).first(),
                    revision=revision,
                    based_on=based_on
                    or (source if isinstance(source, ProcessVersion) else None)
                    or (previous.based_on if previous else None),
                    manifest=manifest,
                    files=files,
                    forms=all_forms,
                    model=model,
                    problems=problems,
                    author=author if getattr(author, "pk", None) else None,
                    changelog=changelog[:300],
                )
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def process_draft_from_upload(*, key: str, content: bytes, author: Any, changelog: str = "") -> ProcessDraft:
    """A draft from an uploaded .bpmn file (another tool's output is fine: problems are listed)."""
    if len(content) > MAX_UPLOAD_BYTES:
        raise ApplicationError("bundle_too_large", _("The file is larger than 1 MB."), status=413)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApplicationError("upload_not_utf8", _("The file is not UTF-8 encoded XML.")) from exc
    return process_draft_save(
        key=key, bpmn=text, author=author, changelog=changelog or _("Uploaded %(key)s.bpmn") % {"key": key}
    )


def process_draft_publish(draft: ProcessDraft, *, actor: Any) -> ProcessVersion:
    """Deploy the draft as an immutable version and publish it (the same content gives the same version).

    Raises PermissionDenied `not_process_owner`, ApplicationError `bundle_invalid` (422) with the
    problems, each naming its element, and Conflict `version_transition_refused`.
    """
    _require_owner(actor)
    bundle = BundleFiles(manifest=draft.manifest, files=draft.files, forms=draft.forms)
    version, _created = process_version_deploy(bundle, author=actor, changelog=draft.changelog)
    if version.status == ProcessVersion.Status.DRAFT:
        version = process_version_publish(version, actor=actor)
    ProcessDraft.objects.filter(pk=draft.pk).update(published_version=version)
    ProcessDraft.objects.filter(key=draft.key, definition__isnull=True).update(definition=version.definition)
    return version


def forms_from_json(text: str) -> dict[str, Any]:
    """Forms posted by the modeller's JSON editor; raises ApplicationError `invalid_forms`."""
    try:
        forms = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise ApplicationError(
            "invalid_forms", _("The forms are not valid JSON: %(error)s") % {"error": exc.msg}
        ) from exc
    if not isinstance(forms, dict):
        raise ApplicationError("invalid_forms", _("Forms must be JSON objects keyed by file name."))
    return forms
