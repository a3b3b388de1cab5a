"""Settings shared by every deployment.

Deployments differ only through environment variables (listed with a comment each in
.env.example); nothing here reads a file or a host name.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from fersite.settings.env import email_config, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = env_bool("DJANGO_DEBUG", default=True)

LOCAL_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", LOCAL_HOSTS if DEBUG else [])

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false")
    if set(ALLOWED_HOSTS) - {*LOCAL_HOSTS, "testserver"}:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when the site answers to other hosts than this "
            "machine (DJANGO_ALLOWED_HOSTS); and set DJANGO_DEBUG=false there."
        )
    # Only for local development (DEBUG on, local hosts only): a key that stays the same
    # across restarts of this checkout, so that sessions survive them.
    SECRET_KEY = hashlib.sha256(f"development key of {BASE_DIR}".encode()).hexdigest()
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "fersite.apps.SecondFactorAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "allauth",
    "allauth.account",
    "django_otp",
    "django_otp.plugins.otp_email",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "storages",
    "accounts",
    "analysis",
    "camera",
    "archive",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "fersite.csp.ContentSecurityPolicyMiddleware",
    "fersite.not_found.NotFoundMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.RequireSecondFactorMiddleware",
]

ROOT_URLCONF = "fersite.urls"
WSGI_APPLICATION = "fersite.wsgi.application"
ASGI_APPLICATION = "fersite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "fersite.context_processors.site",
            ],
        },
    },
]

# Database: SQLite by default, MariaDB/MySQL (utf8mb4, so names may hold any Unicode) by URL.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
try:
    _database = dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0)
    )
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
if _database["ENGINE"] == "django.db.backends.mysql":
    _database.setdefault("OPTIONS", {})
    _database["OPTIONS"].update(
        {"charset": "utf8mb4", "init_command": "SET sql_mode='STRICT_TRANS_TABLES'"}
    )
    _database["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # Requests, the job thread (or Celery workers) and their heartbeats all write: transactions
    # take the write lock when they begin (no deadlocked upgrade from a read lock), and a
    # writer waits for the lock up to 20 s instead of failing with "database is locked".
    _database.setdefault("OPTIONS", {})
    _database["OPTIONS"].update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Channels: Redis when REDIS_URL is set, otherwise the in-process layer (one server only).
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # channels-redis waits up to 5 s for each message (BZPOPMIN); redis-py 8's default
            # socket timeout is no longer than that, so an idle socket's consumer died after
            # 5 s with a TimeoutError. The read timeout must outlast the wait.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The cache holds rate-limit counters (allauth's and the sign-in code's): with Redis they hold
# across server processes; without it each process counts on its own.
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
SITE_ID = 1

# django-allauth: email is the login; a username is kept for display.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = "username"
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_CHANGE_EMAIL = True
# A new password ends every other session (their stored hash no longer matches) but keeps this
# one, second factor included: signing the person out to ask for a new code helped nobody.
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Emotion Lens] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
# allauth's own rate limits keep their defaults (per IP and per address: signups, resets),
# except that a new verification code can be asked for once a minute (up
# to two times); the second-factor code has its own limits (accounts.views).
ACCOUNT_EMAIL_VERIFICATION_SUPPORTS_RESEND = True
ACCOUNT_RATE_LIMITS = {"confirm_email": "1/m/key"}
# Failed logins: growing waits per client and per account (accounts.throttle) in place of
# allauth's fixed lock, which locked the owner out along with the attacker.
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"

# The second factor (django-otp): a code by email at every login, or an authenticator app.
OTP_EMAIL_SUBJECT = "Your Emotion Lens sign-in code"
OTP_EMAIL_BODY_TEMPLATE_PATH = "accounts/email/otp_code.txt"
OTP_EMAIL_TOKEN_VALIDITY = 600
OTP_EMAIL_COOLDOWN_DURATION = 60
# django-otp's per-device throttling is off: after one wrong code it refused the right one for
# a while. Wrong codes cost growing waits per client and per account instead (accounts.throttle).
OTP_EMAIL_THROTTLE_FACTOR = 0
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
OTP_TOTP_ISSUER = "Emotion Lens"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))

# Files go through django-storages: the local file system by default, an S3-compatible bucket
# when AWS_STORAGE_BUCKET_NAME is set. Media files are private in both cases.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    _media_storage: dict[str, object] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "access_key": env_str("AWS_ACCESS_KEY_ID") or None,
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY") or None,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env_str("AWS_S3_REGION_NAME") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
            # A stored file that is read (served, analysed) is fetched whole first; past this
            # it goes to a temporary file on disk, not memory (the default, 0, never spills).
            "max_memory_size": 4 * 1024 * 1024,
        },
    }
else:
    _media_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": None},
    }
STORAGES = {
    "default": _media_storage,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

EMAIL_URL = env_str("EMAIL_URL", "console:")
vars().update(email_config(EMAIL_URL))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Emotion Lens <noreply@localhost>")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "accounts.authentication.VerifiedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 24,
    "EXCEPTION_HANDLER": "fersite.api_errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["accounts.api.throttling.UserScopedThrottle"],
}
# Requests per user on the expensive endpoints (views name their scope); counts live in the
# cache, shared through Redis when REDIS_URL is set. Over the rate: 429 with Retry-After.
API_THROTTLE_RATES = {
    "analyze": env_str("API_THROTTLE_ANALYZE", "60/min") or None,
    "detect": env_str("API_THROTTLE_DETECT", "120/min") or None,
    "export": env_str("API_THROTTLE_EXPORT", "30/min") or None,
    "jobs": env_str("API_THROTTLE_JOBS", "20/min") or None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Emotion Lens API",
    "DESCRIPTION": "Facial emotion recognition: detect faces and score 7 emotions.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI's files are served by the app itself, so the docs work without internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Uploads: files over FILE_UPLOAD_MAX_MEMORY_SIZE go to a temporary file, and
# analysis.services.upload_read refuses one over UPLOAD_MAX_BYTES before reading it; the
# decoder then refuses images over IMAGE_MAX_PIXELS from their header.
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 16 * 1024 * 1024, minimum=1)
IMAGE_MAX_PIXELS = env_int("IMAGE_MAX_PIXELS", 50_000_000, minimum=1)
# What is actually decoded is bounded lower, since a small file can hold a huge picture: JPEGs
# above it are decoded at a half or a quarter of their size, other formats refused; and large
# pictures are decoded a few at a time.
IMAGE_DECODE_MAX_PIXELS = env_int("IMAGE_DECODE_MAX_PIXELS", 25_000_000, minimum=1)
IMAGE_DECODE_CONCURRENCY = env_int("IMAGE_DECODE_CONCURRENCY", 2, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = UPLOAD_MAX_BYTES + 1024 * 1024
# Any request body over this is refused from its Content-Length before it is read
# (fersite.body_limit): an upload and its form fields fit in it.
REQUEST_MAX_BYTES = DATA_UPLOAD_MAX_MEMORY_SIZE
# (Except where jobs are submitted: REQUEST_MAX_BYTES_BY_PATH, below.)
FILE_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024
# A websocket message over this closes its socket (under Daphne: fersite.daphne_limits). It
# holds a camera frame (camera.services.MAX_FRAME_BYTES, 4 MB) with room to spare, so that a
# frame a little over that limit is answered with the camera's error instead of cut off.
WEBSOCKET_MAX_MESSAGE_BYTES = 5 * 1024 * 1024

# Saved analyses older than this many days are deleted by `manage.py archive_purge`; 0 keeps all.
ARCHIVE_RETENTION_DAYS = env_int("ARCHIVE_RETENTION_DAYS", 0, minimum=0)

# Jobs (archive.jobs): on Celery with this broker (Redis) when it is set, else in a background
# thread of the server process. Start workers with `celery -A fersite worker` (README).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", CELERY_BROKER_URL) or None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# One job at a time per worker process, taken when it can start: a long video never holds
# back jobs that another worker could run. Acknowledged on receipt: a worker that dies loses
# its job, which its stopped heartbeat then marks failed (JOB_STALE_SECONDS), instead of
# running it again from the start behind the user's back.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "jobs-sweep": {"task": "archive.tasks.jobs_sweep", "schedule": 60.0},
    "archive-purge": {"task": "archive.tasks.archive_purge", "schedule": 24 * 3600.0},
}
# A running job whose worker has not been heard of for this long is marked failed.
JOB_STALE_SECONDS = env_int("JOB_STALE_SECONDS", 30, minimum=5)
JOB_UPLOAD_MAX_BYTES = env_int("JOB_UPLOAD_MAX_BYTES", 256 * 1024 * 1024, minimum=1)
VIDEO_MAX_SECONDS = env_int("VIDEO_MAX_SECONDS", 600, minimum=1)
VIDEO_MAX_PIXELS = env_int("VIDEO_MAX_PIXELS", 1920 * 1088, minimum=1)
BATCH_MAX_FILES = env_int("BATCH_MAX_FILES", 500, minimum=1)
BATCH_MAX_BYTES = env_int("BATCH_MAX_BYTES", 512 * 1024 * 1024, minimum=1)
# Unfinished jobs a user may have at once.
JOBS_MAX_ACTIVE = env_int("JOBS_MAX_ACTIVE", 5, minimum=1)
# Where jobs are submitted (POST to this exact path, by a client that sends credentials) the
# body may hold a video or a ZIP: a larger limit there.
REQUEST_MAX_BYTES_BY_PATH = {"/api/v1/jobs": JOB_UPLOAD_MAX_BYTES + 1024 * 1024}
# A batch may be many photos in one request (Django's default stops at 100 files).
DATA_UPLOAD_MAX_NUMBER_FILES = BATCH_MAX_FILES + 1

ML_MODELS_DIR = Path(env_str("ML_MODELS_DIR", str(BASE_DIR / "models")))
ML_WARMUP = env_bool("ML_WARMUP", default=False)
ML_THREADS = env_int("ML_THREADS", 2, minimum=1)
# Model work runs in lanes (analysis.ml.registry): live camera frames, interactive analyses
# (uploads, captures, detection) and heavy work (enhancement, batches, videos), each one thread
# with its own queue. ``threads``: the threads one model call may use; ``capacity``: the calls
# waiting or running at most, a full lane answers 503 busy with Retry-After; ``nice``: the
# heavy lane yields the CPU to the others (benchmarks/load.py measures it).
ML_LANES = {
    "live": {
        "threads": env_int("ML_LIVE_THREADS", 1, minimum=1),
        "capacity": env_int("ML_LIVE_QUEUE", 32, minimum=1),
    },
    "interactive": {
        "threads": ML_THREADS,
        "capacity": env_int("ML_INTERACTIVE_QUEUE", 16, minimum=1),
    },
    "heavy": {
        "threads": ML_THREADS,
        "capacity": env_int("ML_HEAVY_QUEUE", 8, minimum=1),
        "nice": env_int("ML_HEAVY_NICE", 19, minimum=0),
    },
}

# Security: strict by default outside debug; each can be relaxed by a variable behind a proxy.
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("DJANGO_BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Behind a proxy every request comes from the proxy's address: the client's is the last
    # one the proxies added to X-Forwarded-For (rate limits and sign-in waits count by it).
    ALLAUTH_TRUSTED_PROXY_COUNT = env_int("DJANGO_TRUSTED_PROXY_COUNT", 1, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
}
