"""Deploying, publishing and retiring process versions."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import Verb
from audit.services import audit_event_record
from common.errors import ApplicationError, Conflict
from processes.engine import BundleInvalid, bundle_check_xml, bundle_load, bundle_validate
from processes.models import ProcessDefinition, ProcessVersion

MAX_BUNDLE_BYTES = 2_000_000


@dataclass(frozen=True)
class BundleFiles:
    """What a deploy consists of: BPMN and DMN (`*.dmn`) documents, forms and the manifest.

    See docs/conventions.md.
    """

    manifest: dict[str, Any]
    files: dict[str, str]
    forms: dict[str, Any]

    @property
    def key(self) -> str:
        return str(self.manifest["key"])


def bundle_files_from_folder(folder: Path) -> BundleFiles:
    """Read bpmn/<key>/ with its manifest, forms, decision tables and the models of the folders it calls.

    Decision tables are the folder's `*.dmn` files, keyed by file name; a called folder's tables come
    along (the same file name must hold the same table; the engine refuses duplicate decision ids).
    """
    manifest = json.loads((folder / "process.json").read_text(encoding="utf-8"))
    files = {f"{manifest['key']}.bpmn": (folder / "model.bpmn").read_text(encoding="utf-8")}
    files.update(_decision_tables(folder))
    forms = {
        p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted((folder / "forms").glob("*.json"))
    }
    for called in manifest.get("calls", []):
        called_folder = folder.parent / called
        files[f"{called}.bpmn"] = (called_folder / "model.bpmn").read_text(encoding="utf-8")
        for name, text in _decision_tables(called_folder).items():
            files.setdefault(name if files.get(name, text) == text else f"{called}.{name}", text)
        for path in sorted((called_folder / "forms").glob("*.json")):
            forms.setdefault(path.name, json.loads(path.read_text(encoding="utf-8")))
    return BundleFiles(manifest=manifest, files=files, forms=forms)


def _decision_tables(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.dmn"))}


def process_library_folders() -> list[Path]:
    root = Path(settings.BASE_DIR) / "bpmn"
    return sorted(p for p in root.iterdir() if (p / "process.json").is_file())


def bundle_content_hash(bundle: BundleFiles) -> str:
    canonical = json.dumps(
        {"manifest": bundle.manifest, "files": bundle.files, "forms": bundle.forms},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _problems_payload(problems: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "code": p.code,
            "message": p.message,
            "element_id": p.element_id,
            "element_name": p.element_name,
            "file": p.file,
        }
        for p in problems
    ]


def process_version_deploy(
    bundle: BundleFiles, *, author: Any = None, changelog: str = ""
) -> tuple[ProcessVersion, bool]:
    """Store a bundle as an immutable draft version; the same content gives the same version back.

    Raises ApplicationError `bundle_invalid` (with every problem, each naming its element) when the
    BPMN is unsafe, malformed or fails the lint rules, and `bundle_too_large` over the size limit.
    """
    size = sum(len(text.encode()) for text in bundle.files.values())
    if size > MAX_BUNDLE_BYTES:
        raise ApplicationError("bundle_too_large", _("The process files are larger than 2 MB."), status=413)
    content_hash = bundle_content_hash(bundle)
    existing = ProcessVersion.objects.filter(definition__key=bundle.key, content_hash=content_hash).first()
    if existing is not None:
        return existing, False

    raw = {name: text.encode() for name, text in bundle.files.items()}
    main_process_id = bundle.manifest["process_id"]
    problems = bundle_check_xml(raw, main_process_id, bundle.forms, max_bytes=MAX_BUNDLE_BYTES)
    if not problems:
        try:
            engine_bundle = bundle_load(raw, main_process_id, max_bytes=MAX_BUNDLE_BYTES)
            problems = bundle_validate(engine_bundle, bundle.forms)
        except BundleInvalid as exc:
            problems = exc.problems
    if problems:
        raise ApplicationError(
            "bundle_invalid",
            _("The process model has errors and was not deployed."),
            status=422,
            problems=_problems_payload(problems),
        )

    names = bundle.manifest.get("name", {})
    try:
        with transaction.atomic():
            definition, _created = ProcessDefinition.objects.get_or_create(
                key=bundle.key,
                defaults={
                    "name_sv": names.get("sv", bundle.key),
                    "name_en": names.get("en", ""),
                    "owner": author if getattr(author, "pk", None) else None,
                },
            )
            # Lock the definition so concurrent deploys number their versions one after another.
            ProcessDefinition.objects.select_for_update().get(pk=definition.pk)
            number = (definition.versions.aggregate(n=Max("number"))["n"] or 0) + 1
            version = ProcessVersion.objects.create(
                definition=definition,
                number=number,
                content_hash=content_hash,
                main_process_id=main_process_id,
                files=bundle.files,
                forms=bundle.forms,
                manifest=bundle.manifest,
                spec=engine_bundle.spec_json(),
                default_task_due=bundle.manifest.get("default_task_due", "P5D"),
                author=author if getattr(author, "pk", None) else None,
                changelog=changelog,
            )
            audit_event_record(
                Verb.VERSION_DEPLOYED,
                actor=author,
                version_id=version.pk,
                after={"key": bundle.key, "number": number, "content_hash": content_hash},
            )
    except IntegrityError:
        # Somebody deployed the same content at the same moment: theirs is ours.
        return ProcessVersion.objects.get(definition__key=bundle.key, content_hash=content_hash), False
    return version, True


def _transition(
    version: ProcessVersion, target: ProcessVersion.Status, actor: Any, verb: Verb
) -> ProcessVersion:
    with transaction.atomic():
        locked = ProcessVersion.objects.select_for_update().get(pk=version.pk)
        if target not in ProcessVersion.ALLOWED_TRANSITIONS[ProcessVersion.Status(locked.status)]:
            raise Conflict(
                "version_transition_refused",
                _("A %(status)s version cannot become %(target)s.")
                % {"status": locked.get_status_display(), "target": target.label},
            )
        before = locked.status
        locked.status = target
        stamp = "published_at" if target == ProcessVersion.Status.PUBLISHED else "retired_at"
        setattr(locked, stamp, timezone.now())
        locked.save(update_fields=["status", stamp])
        audit_event_record(
            verb,
            actor=actor,
            version_id=locked.pk,
            before={"status": before},
            after={"status": locked.status},
        )
    return locked


def process_version_publish(version: ProcessVersion, *, actor: Any = None) -> ProcessVersion:
    return _transition(version, ProcessVersion.Status.PUBLISHED, actor, Verb.VERSION_PUBLISHED)


def process_version_retire(version: ProcessVersion, *, actor: Any = None) -> ProcessVersion:
    return _transition(version, ProcessVersion.Status.RETIRED, actor, Verb.VERSION_RETIRED)


def process_version_current(key: str) -> ProcessVersion:
    """The newest published version of a process: what a new case starts on."""
    version = (
        ProcessVersion.objects.filter(definition__key=key, status=ProcessVersion.Status.PUBLISHED)
        .order_by("-number")
        .first()
    )
    if version is None:
        raise ApplicationError(
            "no_published_version",
            _("The process %(key)s has no published version.") % {"key": key},
            status=404,
        )
    return version
