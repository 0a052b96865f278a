# gunicorn settings for the web process. Read by `gunicorn -c platform/gunicorn.conf.py` (not imported
# by the application; this folder is deliberately not a Python package).
import os

bind = os.environ.get("SKOLFLODE_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
threads = int(os.environ.get("WEB_THREADS", "2"))
timeout = 30
graceful_timeout = 30
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
raw_env = ["DJANGO_SETTINGS_MODULE=config.settings.production"]
