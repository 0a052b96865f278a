"""Settings shared by every environment. Everything that differs between machines comes from the
environment through config.env; the defaults here are safe for a local run."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _
from kombu import Queue

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "common",
    "organisation",
    "processes",
    "tasks",
    "dashboards",
    "audit",
    "accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "common.security_headers.SecurityHeadersMiddleware",
    "common.request_limits.RequestSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tasks.context_processors.notifications",
            ],
        },
    },
]

# --- Database: SQLite embedded by default, PostgreSQL (psycopg 3) via DATABASE_URL ---
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'skolflode.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60), conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the eager dev server and a management command share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Internationalisation: Swedish first, English available ---
LANGUAGE_CODE = "sv"
LANGUAGES = [("sv", _("Swedish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Stockholm"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# bpmn-js for the process modeller, from node_modules (npm ci, package-lock.json): never copied in.
STATICFILES_DIRS += [("bpmn-js", BASE_DIR / "node_modules" / "bpmn-js" / "dist")]

# --- Celery: eager when no broker is configured, real worker + beat with CELERY_BROKER_URL ---
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == ""
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", CELERY_BROKER_URL if CELERY_BROKER_URL else "")
CELERY_TASK_ACKS_LATE = True  # a worker dying mid-job leaves the message for another worker
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240)
CELERY_TIMEZONE = TIME_ZONE
# Queues by kind of work, so a deployment can give each kind its own workers (platform/SCALING.md):
# a 10,000-case bulk start must not delay the timer pass, and an export must not delay either.
# A worker started without -Q consumes all of them; every job is routed to one (a test checks).
CELERY_QUEUE_NAMES = ("engine", "timers", "notifications", "exports")
CELERY_TASK_QUEUES = [Queue(name, routing_key=name) for name in CELERY_QUEUE_NAMES]
CELERY_TASK_DEFAULT_QUEUE = "engine"
CELERY_TASK_ROUTES = {
    "processes.timers_fire_due": {"queue": "timers"},
    "processes.instance_due_timers_fire": {"queue": "timers"},
    "processes.*": {"queue": "engine"},
    "tasks.*": {"queue": "notifications"},
    "audit.*": {"queue": "exports"},
    "common.*": {"queue": "engine"},
}
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Timers fire within this interval of their due time; the pass only touches due rows.
    "fire-due-timers": {"task": "processes.timers_fire_due", "schedule": env_int("TIMER_PASS_SECONDS", 30)},
    # Reminders and escalations are deduplicated per task and person, so a pass may run twice safely.
    "send-task-reminders": {
        "task": "tasks.reminders_send",
        "schedule": env_int("REMINDER_PASS_SECONDS", 300),
    },
    "send-task-escalations": {
        "task": "tasks.escalations_send",
        "schedule": env_int("ESCALATION_PASS_SECONDS", 300),
    },
    # Each e-mail is claimed with a compare-and-set UPDATE before sending: never sent twice.
    "send-notification-emails": {
        "task": "tasks.notification_emails_send",
        "schedule": env_int("NOTIFICATION_EMAIL_PASS_SECONDS", 60),
    },
    # Retention (gallring): closed cases past their process's period lose their personal data.
    # Idempotent; one pass a day is plenty (periods are counted in days).
    "apply-audit-retention": {
        "task": "audit.retention_apply",
        "schedule": env_int("RETENTION_PASS_SECONDS", 24 * 60 * 60),
    },
}

# --- Deadlines: reminders this many working days (business calendar) before a task is due ---
REMINDER_LEAD_WORKING_DAYS = env_int("REMINDER_LEAD_WORKING_DAYS", 2)
# Links in e-mails point here (the task page, never case details in the mail itself).
SITE_URL = env_str("SITE_URL", "http://localhost:8000")

EMAIL_BACKEND = env_str("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DJANGO_DEFAULT_FROM_EMAIL", "skolflode@localhost")

REST_FRAMEWORK = {
    # Token first: an anonymous API call gets 401 with `WWW-Authenticate: Token`, not a bare 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_ANON", "60/min"),
        "user": env_str("API_THROTTLE_USER", "1200/min"),
    },
    "EXCEPTION_HANDLER": "common.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Skolflöde API",
    "DESCRIPTION": "School processes as BPMN workflows: tasks, cases and process versions.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's assets come from the installed sidecar package, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Security (docs/api.md) ---
# The cache holds login-failure counters and API throttles; with several gunicorn workers it must be
# shared (Redis), or each worker counts on its own.
CACHE_URL = env_str("CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "skolflode"}
    )
}
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)  # per username and IP address …
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60)  # … within this window, then locked
# A process bundle is at most 2 MB (processes.services.versions.MAX_BUNDLE_BYTES); JSON adds escaping.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 3 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 3 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000
REQUEST_MAX_BYTES = env_int("REQUEST_MAX_BYTES", 4 * 1024 * 1024)  # any body, files included (413)
# No inline script or style anywhere; the bpmn-js viewer is not served by Django.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
API_CACHEABLE_PATHS = ("/api/schema/",)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# --- OpenID Connect login: on when OIDC_RP_CLIENT_ID is set (endpoints from the provider's discovery) ---
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID", "")
OIDC_ENABLED = OIDC_RP_CLIENT_ID != ""
OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET", "")
OIDC_RP_SIGN_ALGO = env_str("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = "openid email profile"
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT", "")
OIDC_OP_ISSUER = env_str("OIDC_OP_ISSUER", "")  # checked against the ID token's `iss` when set
OIDC_CREATE_USER = False  # only existing people log in; accounts.oidc maps subject/e-mail to them
OIDC_USE_PKCE = True
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 10)
LOGIN_REDIRECT_URL_FAILURE = "/login/"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
if OIDC_ENABLED:
    AUTHENTICATION_BACKENDS.append("accounts.oidc.SkolflodeOIDCBackend")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_personal_data": {"()": "common.logging.PersonalDataMaskingFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["mask_personal_data"],
            "formatter": "plain",
        }
    },
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # SpiffWorkflow logs every task state change at INFO; the audit trail records what matters.
    "loggers": {"spiff": {"level": env_str("SPIFF_LOG_LEVEL", "WARNING")}},
}
