"""Ekbackeskolan: the teacher signals that Alva may not reach the knowledge requirements, tries extra
adaptations, finds them insufficient and reports to the principal; the principal has the need
investigated and, after student health, the guardian and the pupil have been heard, decides on an
action programme. Everything the teacher and the principal do happens in the browser."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from organisation.models import Pupil
from organisation.services.demo import DEMO_PASSWORD, demo_data_load
from processes.models import ProcessInstance
from processes.services.instances import process_instance_start
from processes.services.versions import (
    bundle_files_from_folder,
    process_library_folders,
    process_version_deploy,
    process_version_publish,
)
from tasks.models import UserTask
from tasks.services.user_tasks import user_task_complete

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "browser-artifacts"


def log_in(page, base: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login/")
    page.get_by_label("Användarnamn").fill(username)
    page.get_by_label("Lösenord").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    page.wait_for_selector("text=Välkommen")


def work_next_task(
    page,
    base: str,
    case: ProcessInstance,
    element_id: str,
    answers: dict[str, str],
    choices: dict[str, str] | None = None,
) -> None:
    """Take the case's open step from the team tab, fill in its form as a person would, complete it."""
    step_name = case.user_tasks.get(element_id=element_id, status=UserTask.Status.OPEN).name
    page.goto(f"{base}/tasks/?tab=team")
    page.get_by_role("link", name=step_name).first.click()
    page.get_by_role("button", name="Ta uppgiften").click()
    page.wait_for_selector("text=Lämna tillbaka till gruppen")
    for label, value in answers.items():
        page.get_by_label(label).fill(value)
    for group, option in (choices or {}).items():
        page.get_by_role("group", name=group).get_by_label(option).check()
    page.get_by_role("button", name="Slutför").click()
    assert f"”{step_name}” är slutförd" in page.get_by_role("status").inner_text()


def complete_outside_the_browser(case: ProcessInstance, element_id: str, user, data: dict) -> None:
    task = case.user_tasks.get(element_id=element_id, status=UserTask.Status.OPEN)
    user_task_complete(task_id=task.pk, user=user, data=data)


def test_teacher_and_principal_take_a_special_support_case_to_an_action_programme(live_server, page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    demo_data_load()
    folder = next(f for f in process_library_folders() if f.name == "special_support")
    version = process_version_publish(process_version_deploy(bundle_files_from_folder(folder))[0])
    pupil = Pupil.objects.filter(unit__code="90000002").order_by("pk").first()
    pupil.user = get_user_model().objects.create(username="elev.alva")
    pupil.save()
    case = process_instance_start(
        version=version,
        unit=pupil.unit,
        pupil=pupil,
        data={"pupil_name": pupil.full_name, "pupil_personnummer": pupil.personnummer},
    )
    base = live_server.url

    log_in(page, base, "larare.ekbacke")
    page.goto(f"{base}/tasks/?tab=team")
    assert page.get_by_role("cell", name=pupil.full_name).is_visible()
    page.screenshot(path=str(ARTIFACTS / "inbox-teacher.png"), full_page=True)
    page.get_by_role("link", name=case.user_tasks.get().name).first.click()
    shown = page.get_by_label("Elevens personnummer").inner_text()
    assert shown == f"{pupil.personnummer[:8]}-{pupil.personnummer[8:]}", "prefilled, read-only, readable"
    page.screenshot(path=str(ARTIFACTS / "task-signal.png"), full_page=True)

    work_next_task(
        page,
        base,
        case,
        "document_signal",
        {
            "Ämnen eller kunskapskrav som berörs": "Matematik",
            "Beskrivning av signalen": "Klarar inte bråk",
            "Datum för signalen": "2026-09-01",
        },
    )
    work_next_task(
        page,
        base,
        case,
        "plan_adaptations",
        {"Vilka extra anpassningar görs": "Extra genomgång, bildstöd", "Startdatum": "2026-09-02"},
    )
    work_next_task(
        page,
        base,
        case,
        "evaluate_adaptations",
        {"Kommentar": "Ingen effekt", "Utvärderingsdatum": "2026-10-01"},
        {"Utfall": "Räcker inte"},
    )
    work_next_task(
        page,
        base,
        case,
        "report_to_principal",
        {"Skäl till anmälan": "Extra anpassningar räcker inte", "Anmälningsdatum": "2026-10-01"},
    )

    log_in(page, base, "rektor.ekbacke")
    work_next_task(
        page,
        base,
        case,
        "commission_investigation",
        {"Ansvarig för utredningen": "Specialpedagog Eva", "Datum för uppdraget": "2026-10-02"},
    )

    # Student health, the guardian and the pupil are heard (their own pages are covered elsewhere).
    users = get_user_model().objects
    complete_outside_the_browser(
        case,
        "investigate_needs",
        users.get(username="eht.ekbacke"),
        {
            "pedagogical_assessment": "Behov av särskilt stöd",
            "student_health_consulted": True,
            "support_needed": "yes",
            "investigation_completed_on": "2026-10-10",
        },
    )
    guardian_task = case.user_tasks.get(element_id="guardian_participation", status=UserTask.Status.OPEN)
    guardian = (
        guardian_task.guardian.user if guardian_task.guardian else pupil.custodies.first().guardian.user
    )
    complete_outside_the_browser(
        case,
        "guardian_participation",
        guardian,
        {"guardian_wants_meeting": True, "guardian_views": "Hemma går det bra"},
    )
    complete_outside_the_browser(case, "pupil_participation", pupil.user, {"pupil_views": "Lugn miljö"})

    work_next_task(
        page,
        base,
        case,
        "decide_action_programme",
        {
            "Motivering": "Utredningen visar behov",
            "Beslutsdatum": "2026-10-12",
            "Stödåtgärder och hur de ska följas upp": "Särskild undervisningsgrupp i matematik",
        },
        {"Beslut": "Åtgärdsprogram upprättas"},
    )

    decided = case.user_tasks.get(element_id="decide_action_programme")
    assert decided.data["action_programme_decision"] == "draw_up"
    assert decided.completed_by.username == "rektor.ekbacke"
    page.goto(f"{base}/tasks/{decided.pk}/")
    history = page.get_by_role("region", name="Ärendet hittills")
    assert history.get_by_text(case.user_tasks.get(element_id="document_signal").name).is_visible()
    page.screenshot(path=str(ARTIFACTS / "task-decided.png"), full_page=True)
    assert case.user_tasks.filter(element_id="notify_decision", status=UserTask.Status.OPEN).exists()
