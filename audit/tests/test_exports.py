"""The event log leaves for process-mining tools: an independent XES reader (pm4py) reads back one trace
per case with the database's events and timestamps; case ids and people are pseudonymised unless the
register keeper asks otherwise; every export is itself audited."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pm4py
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit.exports import NOT_PROCESS_EVENTS, pseudonym
from audit.models import AuditEvent, Verb
from organisation.models import Role
from organisation.tests.factories import MembershipFactory, UserFactory
from tests.scenarios.test_library_through_services import library_case_run

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:Install the optional requirement:UserWarning"),
]


@pytest.fixture
def cases():
    return [library_case_run("special_support", 0)[0], library_case_run("special_support", 1)[0]]


def _db_events(instance):
    return list(
        AuditEvent.objects.filter(instance_id=instance.pk).exclude(verb__in=NOT_PROCESS_EVENTS).order_by("id")
    )


def test_xes_reads_back_in_pm4py_with_the_database_events_and_times(cases, tmp_path):
    out = tmp_path / "special_support.xes"
    call_command("export_events", format="xes", process="special_support", out=str(out))

    log = pm4py.read_xes(str(out), return_legacy_log_object=True)

    traces = {trace.attributes["concept:name"]: trace for trace in log}
    assert set(traces) == {pseudonym("case", case.pk) for case in cases}
    for case in cases:
        trace, expected = traces[pseudonym("case", case.pk)], _db_events(case)
        assert len(trace) == len(expected)
        assert [event["time:timestamp"] for event in trace] == [e.occurred_at for e in expected]
        assert [event["concept:name"] for event in trace] == [
            e.element_name or e.element_id or e.verb for e in expected
        ]
        transitions = Counter(event["lifecycle:transition"] for event in trace)
        assert transitions["schedule"] == case.user_tasks.count()
        assert transitions["start"] == 1 and "org:role" in trace[1]
    text = out.read_text(encoding="utf-8")
    assert str(cases[0].pk) not in text and "staff-" not in text, "pseudonymised by default"
    exported = AuditEvent.objects.get(verb=Verb.EVENTS_EXPORTED)
    assert exported.after["format"] == "xes" and exported.after["identified"] is False


def test_csv_and_ocel_carry_the_same_events(cases, tmp_path):
    call_command("export_events", format="csv", process="special_support", out=str(tmp_path / "log.csv"))
    call_command("export_events", format="ocel", process="special_support", out=str(tmp_path / "log.json"))

    with open(tmp_path / "log.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    expected = sum(len(_db_events(case)) for case in cases)
    assert len(rows) == expected
    assert Counter(row["case_id"] for row in rows) == {
        pseudonym("case", case.pk): len(_db_events(case)) for case in cases
    }
    document = json.loads((tmp_path / "log.json").read_text(encoding="utf-8"))
    assert len(document["events"]) == expected
    ocel = pm4py.read_ocel2_json(str(tmp_path / "log.json"))
    assert len(ocel.events) == expected
    assert set(ocel.objects[ocel.objects["ocel:type"] == "case"]["ocel:oid"]) == {
        pseudonym("case", case.pk) for case in cases
    }


def test_identified_exports_are_for_the_register_keeper_only(cases, tmp_path):
    UserFactory(username="agda", is_superuser=True, is_staff=True)
    UserFactory(username="bo")
    out = tmp_path / "log.csv"

    with pytest.raises(CommandError):
        call_command("export_events", format="csv", process="special_support", out=str(out), identified=True)
    with pytest.raises(CommandError):
        call_command(
            "export_events", format="csv", process="special_support", out=str(out), identified=True, user="bo"
        )
    call_command(
        "export_events", format="csv", process="special_support", out=str(out), identified=True, user="agda"
    )

    assert str(cases[0].pk) in out.read_text(encoding="utf-8")
    exported = AuditEvent.objects.filter(verb=Verb.EVENTS_EXPORTED).get()
    assert exported.actor_label == "agda" and exported.after["identified"] is True


def test_the_export_page_is_for_the_governing_body(client, cases, olle):
    page = reverse("audit:export")
    client.force_login(olle)
    assert client.get(page).status_code == 404

    huvudman = MembershipFactory(user=UserFactory(username="greta"), role=Role.GOVERNING_BODY).user
    client.force_login(huvudman)
    assert client.get(page).status_code == 200
    response = client.get(page, {"format": "csv", "process": "special_support"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response.content.decode().count("\n") == 1 + sum(len(_db_events(c)) for c in cases)
    refused = client.get(page, {"format": "csv", "process": "special_support", "identified": "1"})
    assert refused.status_code == 400
