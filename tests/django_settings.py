"""Settings of the Django tests (pytest-django): the example project's views, no SQL database.

Selected by ``DJANGO_SETTINGS_MODULE`` in pyproject's ``[tool.pytest.ini_options]``.

There is no ``ASYNCJSONDB`` and no ``BASE_DIR`` here, on purpose: every test points the setting
at its own temporary folder, and a test that forgets fails instead of writing somewhere real.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The example project is tested as it ships: its package ``mysite`` holds the views and URLs
# (``tests.django_urls`` adds a probe to them).
EXAMPLE_PROJECT = Path(__file__).resolve().parent.parent / "examples" / "django_project"
if str(EXAMPLE_PROJECT) not in sys.path:
    sys.path.append(str(EXAMPLE_PROJECT))

SECRET_KEY = "tests-only"
INSTALLED_APPS = ["asyncjsondb_django"]
ROOT_URLCONF = "tests.django_urls"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
