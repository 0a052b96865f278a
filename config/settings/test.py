"""Test settings: the same database switch as local (SQLite by default, PostgreSQL via DATABASE_URL)."""

import os

from config.env import env_str

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "test-key-not-for-production-use-0123456789-abcdefghij")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Ordinary tests run jobs in-process for determinism; tests marked `broker` send through the real
# broker to a real worker (conftest.celery_worker_process) with `app.send_task`.
CELERY_TASK_ALWAYS_EAGER = True

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not the in-memory shared cache: concurrency tests need SQLite's real locking (IMMEDIATE
    # transactions waiting on the busy timeout), as in the embedded default.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")}  # noqa: F405
else:
    # One test database per run, so two runs on one server (a developer and CI, parallel sessions)
    # never drop each other's database.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}  # noqa: F405
# Throttles stay on (tests/security checks them with their own rates) but never trip an ordinary test.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"anon": "100000/min", "user": "100000/min"},
}
