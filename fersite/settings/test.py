"""Settings for the test suite: base settings plus fast hashing and captured mail.

The database and the channel layer still come from DATABASE_URL and REDIS_URL, which the test
command points at the throwaway MariaDB and Redis it starts.
"""

from fersite.settings.base import *  # noqa: F403

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
