import os
import platform
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parents[2]


def test_the_platform_folder_does_not_shadow_the_standard_library():
    assert Path(platform.__file__).parent == Path(sysconfig.get_paths()["stdlib"])
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_env_helpers_parse_and_refuse(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "42")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_bool("X_BOOL") is True
    assert env_int("X_INT", 1) == 42
    assert env_list("X_LIST") == ["a", "b", "c"]
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        env_bool("X_BOOL")
    monkeypatch.delenv("X_MISSING", raising=False)
    with pytest.raises(ImproperlyConfigured, match="X_MISSING is required"):
        env_str("X_MISSING")


def _django_check(settings_module: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": settings_module, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = _django_check("config.settings.production", DJANGO_ALLOWED_HOSTS="skolflode.example.se")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is required" in result.stderr


def test_production_settings_pass_the_deploy_check():
    result = _django_check(
        "config.settings.production",
        DJANGO_SECRET_KEY="x" * 20 + "-production-like-secret-with-enough-entropy-1234567890",
        DJANGO_ALLOWED_HOSTS="skolflode.example.se",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sqlite_is_the_default_and_database_url_switches_to_postgresql():
    code = "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])"
    base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}

    def engine(**env: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", f"import django, os; django.setup(); {code}"],
            cwd=ROOT,
            env={**base, "DJANGO_SETTINGS_MODULE": "config.settings.local", **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()

    assert engine() == "django.db.backends.sqlite3"
    assert engine(DATABASE_URL="postgres://u@db.example:5432/skolflode") == "django.db.backends.postgresql"
