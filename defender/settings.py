"""Settings, read from the environment (and .env) with django-environ.

Every variable is documented in README.md with its default. The embedded default needs no
configuration: SQLite and a filesystem Celery broker under var/, secrets generated there.
Production sets DEBUG=False, DATABASE_URL, REDIS_URL and its secrets.
"""

from pathlib import Path

import environ
from kombu import Queue

from defender import secrets
from defender.schedule import BEAT_SCHEDULE, IDENTITY_SYNC_MINUTES  # noqa: F401 - a setting too

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
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_beat",
    "defender.apps.DefenderConfig",
    "connectors.apps.ConnectorsConfig",
    "policies.apps.PoliciesConfig",
    "alerts.apps.AlertsConfig",
    "governance.apps.GovernanceConfig",
    "siem.apps.SiemConfig",
    "localaws.apps.LocalAwsConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "defender.middleware.AuditContextMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "defender.middleware.ConsoleLoginRequiredMiddleware",
    "defender.middleware.RoleRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "defender.middleware.UploadSizeLimitMiddleware",
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
# Brute-force protection: after this many failed sign-ins for one user name from one IP, that pair is
# refused for LOGIN_LOCKOUT_MINUTES after the last failure (counted from the audit log, so it holds
# across every web process).
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=15)
# Largest file accepted by any upload (credentials CSV, directory CSV, threat feed, policy import).
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
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
# A detection still pending this long after it was sent is sent again (its worker died); a queue of
# detection longer than this would only detect some batches twice, which is safe.
DETECTION_RESEND_SECONDS = env.int("DETECTION_RESEND_SECONDS", default=15 * 60)
# Governance runs: attempts before a transient failure (throttling, network) fails the run, the first
# retry's delay (doubling up to 10 minutes), and how long a run may stay running before the janitor
# fails it (its worker died during the action, which is never run twice).
GOVERNANCE_MAX_ATTEMPTS = env.int("GOVERNANCE_MAX_ATTEMPTS", default=5)
GOVERNANCE_RETRY_SECONDS = env.int("GOVERNANCE_RETRY_SECONDS", default=30)
GOVERNANCE_STUCK_SECONDS = env.int("GOVERNANCE_STUCK_SECONDS", default=15 * 60)
# SIEM export: records per batch sent to a destination, and the lease of one export run on one
# destination (refreshed after every batch; a run whose worker died is taken over once it expires).
SIEM_BATCH_SIZE = env.int("SIEM_BATCH_SIZE", default=500)
SIEM_CLAIM_SECONDS = env.int("SIEM_CLAIM_SECONDS", default=120)
CELERY_TASK_QUEUES = [Queue(name) for name in ("ingest", "detect", "governance", "default")]
CELERY_TASK_DEFAULT_QUEUE = "default"
# Queues by task name, so each worker pool can be sized for its kind of work.
CELERY_TASK_ROUTES = {
    "connectors.ingest_*": {"queue": "ingest"},
    "connectors.poll_*": {"queue": "ingest"},
    "connectors.scan_buckets*": {"queue": "ingest"},
    "policies.*": {"queue": "detect"},
    "governance.*": {"queue": "governance"},
    "siem.*": {"queue": "default"},
}
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged after it ran, and given back if its worker dies: work is never lost,
# so every task must be safe to run twice (unique constraints, conditional claims).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task sent while the broker restarts waits for it (about a minute at most) rather than failing:
# detection is sent once, after ingestion's commit, and a send that failed would never be repeated.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 20,
    "interval_start": 0,
    "interval_step": 1,
    "interval_max": 3,
}
# Workers and beat started while the broker is down wait for it; a task running when the connection
# drops finishes its work (its acknowledgement is lost, so the broker hands it out again later, which
# tasks safe to run twice allow).
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = BEAT_SCHEDULE
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# The API's request counters (throttling) must be shared by every web process: Redis when there is
# one; the embedded default runs a single web process, where memory is enough.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
# Largest page any list endpoint of /api/v1/ returns (?limit=, activities' ?page_size=).
API_MAX_PAGE_SIZE = env.int("API_MAX_PAGE_SIZE", default=500)
REST_FRAMEWORK = {
    # Personal API tokens first: an unauthenticated API request is then a 401 with a Bearer challenge.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "defender.api_auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["defender.roles.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "defender.api_contract.ApiPagination",
    "DEFAULT_RENDERER_CLASSES": [
        "defender.api_contract.ApiJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "defender.api_schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "defender.api_contract.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "defender.api_contract.ApiUserRateThrottle",
        "defender.api_contract.ApiAnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("API_THROTTLE_RATE", default="600/minute"),
        "anon": env.str("API_ANON_THROTTLE_RATE", default="60/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Defender for AWS API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Tags and operation ids from the resource (alerts, policies...), not the version segment.
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "DESCRIPTION": "The console's data and actions for automation. Authenticate with a personal API "
    "token (user menu > API tokens) as `Authorization: Bearer dfa_...`; a request acts with its "
    "user's role. Errors are JSON objects with `detail` and `code` (and, on a 400, each invalid "
    "field's messages); lists are paginated; each user may make API_THROTTLE_RATE requests.",
    # The schema and the docs page need a signed-in user with a console role (readers included).
    "SERVE_PERMISSIONS": ["defender.roles.RolePermission"],
    # Swagger UI is served by the app (drf-spectacular-sidecar): no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": False, "displayOperationId": False, "filter": True},
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "defender.api_schema.validation_error_postprocessing",
    ],
    # Policies and alerts both have a "type" with different choices: name each enum.
    "ENUM_NAME_OVERRIDES": {
        "PolicyTypeEnum": "policies.models.Policy.Type",
        "AlertTypeEnum": "alerts.models.ALERT_TYPE_CHOICES",
        "AlertStatusEnum": "alerts.models.Alert.Status",
        "GovernanceRunStatusEnum": "governance.models.GovernanceRun.Status",
    },
}

# Production hardening: on by default whenever DEBUG is off, so `check --deploy` is clean.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# A console session lasts a working day, not Django's default two weeks.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
BEHIND_TLS_PROXY = env.bool("BEHIND_TLS_PROXY", default=False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"botocore": {"level": "WARNING"}, "urllib3": {"level": "WARNING"}},
}
