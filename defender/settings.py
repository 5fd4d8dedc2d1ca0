"""Settings, read from the environment (and .env) with django-environ.

Every variable is documented in README.md with its default. The embedded default needs no
configuration: SQLite and a filesystem Celery broker under var/, secrets generated there.
Production sets DEBUG=False, DATABASE_URL, REDIS_URL and its secrets.
"""

from pathlib import Path

import environ
from kombu import Queue

from defender import secrets
from defender.schedule import BEAT_SCHEDULE

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
DEBUG = env.bool("DEBUG", default=True)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="") or secrets.load_or_generate("SECRET_KEY", VAR_DIR)
    FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default="") or secrets.load_or_generate(
        "FIELD_ENCRYPTION_KEY", VAR_DIR
    )
else:
    SECRET_KEY = secrets.require("SECRET_KEY", env.str("SECRET_KEY", default=""))
    FIELD_ENCRYPTION_KEY = secrets.require(
        "FIELD_ENCRYPTION_KEY", env.str("FIELD_ENCRYPTION_KEY", default="")
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "django_htmx",
    "django_celery_beat",
    "defender.apps.DefenderConfig",
    "connectors.apps.ConnectorsConfig",
    "policies.apps.PoliciesConfig",
    "alerts.apps.AlertsConfig",
    "governance.apps.GovernanceConfig",
    "localaws.apps.LocalAwsConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "defender.middleware.ConsoleLoginRequiredMiddleware",
    "defender.middleware.RoleRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "defender.urls"
WSGI_APPLICATION = "defender.wsgi.application"

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
                "defender.navigation.console_context",
            ],
            "builtins": [
                "django.templatetags.static",
                "django.contrib.humanize.templatetags.humanize",
                "defender.templatetags.console",
            ],
        },
    }
]

DATABASE_URL = env.str("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'defender.sqlite3'}"
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: WAL lets readers run beside the one writer, and
    # IMMEDIATE transactions queue writers instead of failing them with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not memory: tests start real worker processes that must see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
if DEBUG:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Defender for AWS <defender@localhost>")
# The portal's address as people reach it, for links in notifications.
PORTAL_URL = env.str("PORTAL_URL", default="http://127.0.0.1:8000")
# Key of the HMAC-SHA256 signature on webhook notifications (X-Defender-Signature); default SECRET_KEY.
WEBHOOK_SIGNING_KEY = env.str("WEBHOOK_SIGNING_KEY", default="")

# AWS. AWS_ENDPOINT_URL points boto3 at a local emulator (tests, demo); it also reveals the
# per-connector endpoint field in the wizard, which AWS_ADVANCED_MODE can reveal on its own.
AWS_ENDPOINT_URL = env.str("AWS_ENDPOINT_URL", default="")
AWS_ADVANCED_MODE = env.bool("AWS_ADVANCED_MODE", default=bool(AWS_ENDPOINT_URL))

# Offline GeoIP: a MaxMind-format City database; empty means the bundled GeoLite2 City file.
GEOIP_DATABASE = env.str("GEOIP_DATABASE", default="")
GEOIP_ASN_DATABASE = env.str("GEOIP_ASN_DATABASE", default="")

# Celery. Without a broker URL the embedded default uses kombu's filesystem transport under var/.
REDIS_URL = env.str("REDIS_URL", default="")
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# AWS allows 2 LookupEvents calls per second per account and region; ingestion paces itself under it.
LOOKUP_EVENTS_PER_SECOND = env.float("LOOKUP_EVENTS_PER_SECOND", default=2.0)
# Seconds after which an ingestion claim whose worker stopped refreshing it is taken over.
INGEST_CLAIM_SECONDS = env.int("INGEST_CLAIM_SECONDS", default=120)
CELERY_TASK_QUEUES = [Queue(name) for name in ("ingest", "detect", "governance", "default")]
CELERY_TASK_DEFAULT_QUEUE = "default"
# Queues by task name, so each worker pool can be sized for its kind of work.
CELERY_TASK_ROUTES = {
    "connectors.ingest_*": {"queue": "ingest"},
    "connectors.poll_*": {"queue": "ingest"},
    "policies.*": {"queue": "detect"},
    "governance.*": {"queue": "governance"},
}
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged after it ran, and given back if its worker dies: work is never lost,
# so every task must be safe to run twice (unique constraints, conditional claims).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = BEAT_SCHEDULE
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["defender.roles.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env.str("API_THROTTLE_RATE", default="600/minute")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Defender for AWS API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Policies and alerts both have a "type" with different choices: name each enum.
    "ENUM_NAME_OVERRIDES": {
        "PolicyTypeEnum": "policies.models.Policy.Type",
        "AlertTypeEnum": "alerts.models.ALERT_TYPE_CHOICES",
    },
}

# Production hardening: on by default whenever DEBUG is off, so `check --deploy` is clean.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"botocore": {"level": "WARNING"}, "urllib3": {"level": "WARNING"}},
}
