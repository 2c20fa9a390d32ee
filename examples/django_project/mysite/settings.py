"""Settings of the example: the smallest Django site that serves data from AsyncJSONDB.

No SQL database and no CSRF middleware: the views are a JSON API for ``curl``. Environment
variables let a deployment (or a test) move the data without editing this file.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-do-not-deploy")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = ["asyncjsondb_django"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"
ASGI_APPLICATION = "mysite.asgi.application"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

ASYNCJSONDB = {
    "PATH": os.environ.get("ASYNCJSONDB_PATH") or BASE_DIR / "jsondb",  # a folder or a URL
    # BACKUP_DIR defaults to "<PATH>-backups", beside PATH.
    "OPTIONS": {"durability": "fsync"},
}
