"""Settings for the test suite: base settings plus fast hashing and captured mail.

The database and the channel layer still come from DATABASE_URL and REDIS_URL, which the test
command points at the throwaway MariaDB and Redis it starts.
"""

from fersite.settings.base import *  # noqa: F403
from fersite.settings.base import REDIS_URL
from fersite.settings.env import env_int, env_str

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
# Django's test runner turns DEBUG off, which would make WhiteNoise look only in STATIC_ROOT
# (filled by collectstatic in production): serve straight from the apps' static folders instead.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Tests make many calls as the same few users within a minute: the limits are far above that
# here, and the tests of the limits set their own.
API_THROTTLE_RATES = dict.fromkeys(API_THROTTLE_RATES, "100000/min")
# Jobs go through Celery on the test command's Redis (its database 1), run by a real worker
# process that tests/conftest.py starts; the tests of the embedded runner clear this.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or (
    REDIS_URL.rsplit("/", 1)[0] + "/1" if REDIS_URL else ""
)
CELERY_RESULT_BACKEND = CELERY_BROKER_URL or None
JOB_STALE_SECONDS = env_int("JOB_STALE_SECONDS", 6, minimum=5)
