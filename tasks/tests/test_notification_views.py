"""In-app notifications: each person sees only their own, and marks them read with a POST."""

import pytest
from django.test import Client
from django.urls import reverse

from processes.services.instances import process_instance_start
from tasks.models import Notification


def notify(user, title, **fields):
    return Notification.objects.create(
        user=user, kind=Notification.Kind.REMINDER, dedup_key=f"test:{user.pk}:{title}", title=title, **fields
    )


@pytest.fixture
def rut_client(client, rut):
    client.force_login(rut)
    return client


@pytest.mark.django_db
def test_the_list_shows_only_my_notifications(rut_client, rut, olle):
    notify(rut, "Påminnelse till Rut")
    notify(olle, "Påminnelse till Olle")

    response = rut_client.get(reverse("notifications:list"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Påminnelse till Rut" in page and "Påminnelse till Olle" not in page
    assert f'action="{reverse("notifications:read_all")}"' in page


@pytest.mark.django_db
def test_the_unread_filter_hides_what_i_have_read(rut_client, rut):
    notify(rut, "Oläst")
    notify(rut, "Redan läst", read_at="2026-08-21T09:00:00+02:00")

    page = rut_client.get(reverse("notifications:list"), {"unread": "1"}).content.decode()

    assert "Oläst" in page and "Redan läst" not in page


@pytest.mark.django_db
def test_the_menu_shows_my_unread_count(rut_client, rut, olle):
    notify(rut, "Ett")
    notify(rut, "Två")
    notify(olle, "Inte min")

    page = rut_client.get(reverse("home")).content.decode()

    assert f'href="{reverse("notifications:list")}"' in page
    assert "(2)</a>" in page


@pytest.mark.django_db
def test_the_list_needs_a_login(client):
    response = client.get(reverse("notifications:list"))

    assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.django_db
def test_marking_read_needs_a_post_and_works_once(rut_client, rut):
    notification = notify(rut, "Påminnelse")
    url = reverse("notifications:read", args=[notification.pk])

    assert rut_client.get(url).status_code == 405
    notification.refresh_from_db()
    assert notification.read_at is None

    response = rut_client.post(url)
    assert response.status_code == 302 and response.url == reverse("notifications:list")
    notification.refresh_from_db()
    first_read = notification.read_at
    assert first_read is not None

    assert rut_client.post(url).status_code == 302
    notification.refresh_from_db()
    assert notification.read_at == first_read, "reading again changes nothing"


@pytest.mark.django_db
def test_i_cannot_mark_someone_elses_notification_read(rut_client, olle):
    theirs = notify(olle, "Olles")

    response = rut_client.post(reverse("notifications:read", args=[theirs.pk]))

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


@pytest.mark.django_db
def test_mark_all_read_touches_only_mine(rut_client, rut, olle):
    notify(rut, "Ett")
    notify(rut, "Två")
    theirs = notify(olle, "Olles")

    assert rut_client.get(reverse("notifications:read_all")).status_code == 405
    response = rut_client.post(reverse("notifications:read_all"))

    assert response.status_code == 302
    assert not Notification.objects.filter(user=rut, read_at__isnull=True).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None


@pytest.mark.django_db
def test_changes_need_the_csrf_token(rut):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rut)
    notification = notify(rut, "Påminnelse")

    assert client.post(reverse("notifications:read", args=[notification.pk])).status_code == 403
    assert client.post(reverse("notifications:read_all")).status_code == 403
    notification.refresh_from_db()
    assert notification.read_at is None


@pytest.mark.django_db
def test_a_notification_links_to_its_task_page(rut_client, rut, support_version, ekbacke, alva):
    task = process_instance_start(version=support_version, unit=ekbacke, pupil=alva).user_tasks.get()
    notify(rut, "Påminnelse", user_task=task)

    page = rut_client.get(reverse("notifications:list")).content.decode()

    assert f'href="{reverse("tasks:detail", args=[task.pk])}"' in page
