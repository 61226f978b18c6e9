"""The one settings object. Nothing else in cstp reads the environment.

Sources, highest precedence first:

1. CLI flags (`--host`, `--port`), passed to `Settings(...)` as keyword arguments;
2. environment variables (`CSTP_PORT=8200`), and for every secret a `*_FILE` variant naming a file
   whose content is the value (`CSTP_AUTH_TOKENS_FILE=/run/secrets/cstp_tokens`); setting both the
   variable and its `_FILE` variant is an error;
3. a YAML file given with `--config` (or `CSTP_CONFIG`), with `${VAR}` / `${VAR:-default}` expansion;
   keys are the lower-case setting names (`port: 8100`), or the sections `server`, `agent`, `auth`,
   `storage`, `embedding`, `guardrails` of `config/server.yaml`;
4. the defaults below.

An invalid value stops startup with a message naming the setting (`cstp.cli` prints it).
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from cstp.domain.errors import ConfigError

# Secrets that also accept `<NAME>_FILE`.
SECRET_ENV = ("CSTP_AUTH_TOKENS", "CHROMA_TOKEN", "GEMINI_API_KEY", "CSTP_UI_SECRET")
_PLACEHOLDERS = {"changeme", "change-me", "replace-me", "your-api-key", "xxx", "<token>"}
# The YAML file chosen by `load_settings(config_file=...)`, seen by `_YamlSource` during that call.
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("cstp_config_file", default=None)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """Every setting cstp reads. Frozen: built once in `cli.main()` (or by a test) and passed down."""

    # env_ignore_empty: `CSTP_AUTH_TOKENS=` (empty, as compose writes unset variables) must not hide
    # CSTP_AUTH_TOKENS_FILE or a YAML value.
    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", populate_by_name=True, case_sensitive=False, env_ignore_empty=True
    )

    # --- server ---------------------------------------------------------------------------------
    host: str = Field("0.0.0.0", validation_alias=_env("CSTP_HOST"))
    port: int = Field(8100, ge=1, le=65535, validation_alias=_env("CSTP_PORT"))
    data_dir: Path = Field(Path("data"), validation_alias=_env("CSTP_DATA_DIR"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", validation_alias=_env("LOG_LEVEL")
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, validation_alias=_env("CSTP_MAX_BODY_BYTES"))
    # Body limit of the bulk methods (cstp.importDecisions, cstp.restoreWrite): a page of
    # thousands of records, or of vectors, is larger than any agent call.
    import_max_body_bytes: int = Field(
        67_108_864, ge=1024, validation_alias=_env("CSTP_IMPORT_MAX_BODY_BYTES")
    )
    shutdown_timeout: float = Field(7.0, gt=0, le=300, validation_alias=_env("CSTP_SHUTDOWN_TIMEOUT"))
    # Seconds between SIGTERM and closing the listener, with /ready 503 and requests still served,
    # so a load balancer checking every second stops routing here first (web.drain).
    shutdown_drain: float = Field(3.0, ge=0, le=300, validation_alias=_env("CSTP_SHUTDOWN_DRAIN_S"))
    # Listener limits (web.server): request line + headers, header count, and how long a request
    # may take to arrive complete before it is answered 408 and its connection closed.
    max_header_bytes: int = Field(32_768, ge=1024, validation_alias=_env("CSTP_MAX_HEADER_BYTES"))
    max_headers: int = Field(100, ge=8, validation_alias=_env("CSTP_MAX_HEADERS"))
    request_timeout: float = Field(30.0, gt=0, le=3600, validation_alias=_env("CSTP_REQUEST_TIMEOUT"))
    # Admission control (runtime.admission): a record/review/update write whose expected wait behind
    # the writes in flight exceeds this many seconds is refused at once with a retryable error
    # ("Server busy", data.retryAfterMs) instead of queued. 0: never refuse (unbounded queue).
    write_max_wait: float = Field(1.0, ge=0, le=600, validation_alias=_env("CSTP_WRITE_MAX_WAIT"))
    # Server processes on the one port (runtime.workers); more than one needs a Chroma server.
    workers: int = Field(1, ge=1, le=64, validation_alias=_env("CSTP_WORKERS"))

    # --- agent card -----------------------------------------------------------------------------
    agent_name: str = Field("cstp", validation_alias=_env("CSTP_AGENT_NAME"))
    agent_description: str = Field(
        "Decision intelligence for AI agents", validation_alias=_env("CSTP_AGENT_DESCRIPTION")
    )
    agent_url: str = Field("http://localhost:8100", validation_alias=_env("CSTP_AGENT_URL"))
    agent_contact: str | None = Field(None, validation_alias=_env("CSTP_AGENT_CONTACT"))

    # --- auth -----------------------------------------------------------------------------------
    auth_tokens: SecretStr | None = Field(None, validation_alias=_env("CSTP_AUTH_TOKENS"))
    admin_agents: str = Field("", validation_alias=_env("CSTP_ADMIN_AGENTS"))
    # Browser origins /mcp accepts (comma-separated; `http://localhost:*` for any port, `*` for any).
    mcp_allowed_origins: str = Field("", validation_alias=_env("CSTP_MCP_ALLOWED_ORIGINS"))

    # --- dashboard (/ui/) -----------------------------------------------------------------------
    # Signs the session cookies; unset: generated once and kept in the shared store.
    ui_secret: SecretStr | None = Field(None, validation_alias=_env("CSTP_UI_SECRET"))
    ui_session_ttl: float = Field(28_800, ge=60, le=2_592_000, validation_alias=_env("CSTP_UI_SESSION_TTL"))
    # Mark the cookie Secure (the server is reached over https, e.g. behind a TLS proxy).
    ui_cookie_secure: bool = Field(False, validation_alias=_env("CSTP_UI_COOKIE_SECURE"))

    # --- storage --------------------------------------------------------------------------------
    chroma_url: str | None = Field(None, validation_alias=_env("CHROMA_URL"))
    chroma_token: SecretStr | None = Field(None, validation_alias=_env("CHROMA_TOKEN"))
    chroma_tenant: str = Field("default_tenant", validation_alias=_env("CHROMA_TENANT"))
    chroma_database: str = Field("default_database", validation_alias=_env("CHROMA_DATABASE"))
    chroma_collection_prefix: str = Field(
        "cstp",
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,40}$",
        validation_alias=_env("CHROMA_COLLECTION_PREFIX"),
    )
    chroma_timeout: float = Field(10.0, gt=0, validation_alias=_env("CHROMA_TIMEOUT"))

    # --- embeddings -----------------------------------------------------------------------------
    embedding_provider: Literal["local", "gemini"] = Field(
        "local", validation_alias=_env("EMBEDDING_PROVIDER")
    )
    embed_batch_size: int = Field(32, ge=1, le=256, validation_alias=_env("CSTP_EMBED_BATCH_SIZE"))
    gemini_api_key: SecretStr | None = Field(None, validation_alias=_env("GEMINI_API_KEY"))
    gemini_model: str = Field("gemini-embedding-001", validation_alias=_env("GEMINI_MODEL"))
    gemini_dimensions: int = Field(768, ge=1, le=3072, validation_alias=_env("GEMINI_DIMENSIONS"))
    gemini_base_url: str = Field(
        "https://generativelanguage.googleapis.com/v1beta",
        validation_alias=_env("GEMINI_BASE_URL"),
    )
    gemini_timeout: float = Field(30.0, gt=0, validation_alias=_env("GEMINI_TIMEOUT"))
    gemini_max_retries: int = Field(4, ge=0, le=10, validation_alias=_env("GEMINI_MAX_RETRIES"))

    # --- guardrails -----------------------------------------------------------------------------
    guardrails_paths: str = Field("", validation_alias=_env("GUARDRAILS_PATHS"))
    guardrails_watch: bool = Field(True, validation_alias=_env("GUARDRAILS_WATCH"))

    # --- deliberation tracker -------------------------------------------------------------------
    tracker_input_ttl: float = Field(300, gt=0, le=86_400, validation_alias=_env("CSTP_TRACKER_INPUT_TTL"))
    tracker_session_ttl: float = Field(
        1800, gt=0, le=604_800, validation_alias=_env("CSTP_TRACKER_SESSION_TTL")
    )
    tracker_history_size: int = Field(50, ge=1, le=1000, validation_alias=_env("CSTP_TRACKER_HISTORY_SIZE"))

    @field_validator("chroma_url", "agent_contact", mode="before")
    @classmethod
    def _empty_is_none(cls, v: Any) -> Any:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("chroma_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("must be an http:// or https:// URL, e.g. http://chromadb:8000")
        return v.rstrip("/") if v else v

    @field_validator("auth_tokens", "chroma_token", "gemini_api_key", mode="before")
    @classmethod
    def _secret(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip()
            if not v:
                return None
            if v.lower() in _PLACEHOLDERS:
                raise ValueError("is a placeholder value; set a real secret")
        return v

    @model_validator(mode="after")
    def _gemini_needs_key(self) -> Settings:
        if self.embedding_provider == "gemini" and self.gemini_api_key is None:
            raise ValueError("EMBEDDING_PROVIDER=gemini requires GEMINI_API_KEY (or GEMINI_API_KEY_FILE)")
        return self

    # --- derived --------------------------------------------------------------------------------
    @property
    def store_mode(self) -> Literal["embedded", "server"]:
        return "server" if self.chroma_url else "embedded"

    @property
    def guardrail_dirs(self) -> list[Path]:
        return [Path(p).expanduser() for p in self.guardrails_paths.split(":") if p.strip()]

    @property
    def admins(self) -> frozenset[str]:
        """Agents allowed the operator's methods (bulk import, other agents' tracker state).

        Configured tokens grant nothing extra unless their agent is listed here; a server running
        on its generated token has one user, the operator, whose agent is then an admin.
        """
        return frozenset(a.strip() for a in self.admin_agents.split(",") if a.strip())

    @property
    def mcp_origins(self) -> tuple[str, ...]:
        """Origins allowed on /mcp. Requests without an Origin (every non-browser client) need none;
        one with an Origin not listed is refused, which is what stops DNS rebinding."""
        return tuple(o.strip().rstrip("/") for o in self.mcp_allowed_origins.split(",") if o.strip())

    @property
    def token_file(self) -> Path:
        """Where a generated token is kept when none is configured."""
        return self.data_dir / "auth_token"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _SecretFileSource(settings_cls),
            _YamlSource(settings_cls),
        )


class _SecretFileSource(PydanticBaseSettingsSource):
    """`<NAME>_FILE` → the file's content (trailing newline stripped), postgres-image style."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused; __call__ does the work

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in SECRET_ENV:
            path = os.environ.get(f"{name}_FILE", "").strip()
            if not path:
                continue
            if os.environ.get(name, "").strip():
                raise ConfigError(f"{name} and {name}_FILE are both set; use one")
            try:
                values[name] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as e:
                raise ConfigError(f"{name}_FILE: cannot read {path}: {e.strerror}") from None
        return values


class BridgeSettings(BaseSettings):
    """`cstp-server mcp` (the stdio MCP server): which cstp server it forwards to, and as whom.

    The reference client's variables and defaults, except the port (8100 is ours). CSTP_URL is
    the server's base URL, as the other clients take it (without /cstp or /mcp).
    """

    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", case_sensitive=False, env_ignore_empty=True
    )

    url: str = Field("http://localhost:8100", validation_alias=_env("CSTP_URL"))
    token: SecretStr | None = Field(None, validation_alias=_env("CSTP_TOKEN"))
    timeout: float = Field(60.0, gt=0, validation_alias=_env("CSTP_TIMEOUT"))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "WARNING", validation_alias=_env("LOG_LEVEL")
    )

    @field_validator("url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("must be an http:// or https:// URL, e.g. http://localhost:8100")
        v = v.rstrip("/")
        for suffix in ("/mcp", "/cstp"):
            v = v.removesuffix(suffix)
        return v

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


# YAML sections of config/server.yaml → setting names.
_SECTIONS: dict[str, dict[str, str]] = {
    "server": {
        "host": "host",
        "port": "port",
        "data_dir": "data_dir",
        "log_level": "log_level",
        "max_body_bytes": "max_body_bytes",
        "import_max_body_bytes": "import_max_body_bytes",
        "shutdown_timeout": "shutdown_timeout",
        "shutdown_drain_s": "shutdown_drain",
        "mcp_allowed_origins": "mcp_allowed_origins",
        "max_header_bytes": "max_header_bytes",
        "max_headers": "max_headers",
        "request_timeout": "request_timeout",
        "workers": "workers",
        "write_max_wait": "write_max_wait",
    },
    "agent": {
        "name": "agent_name",
        "description": "agent_description",
        "url": "agent_url",
        "contact": "agent_contact",
    },
    "storage": {
        "chroma_url": "chroma_url",
        "chroma_token": "chroma_token",
        "tenant": "chroma_tenant",
        "database": "chroma_database",
        "collection_prefix": "chroma_collection_prefix",
    },
    "embedding": {
        "provider": "embedding_provider",
        "batch_size": "embed_batch_size",
        "gemini_api_key": "gemini_api_key",
        "gemini_model": "gemini_model",
        "gemini_dimensions": "gemini_dimensions",
        "gemini_base_url": "gemini_base_url",
    },
    "guardrails": {"paths": "guardrails_paths", "watch": "guardrails_watch"},
}


def expand_vars(text: str) -> str:
    """`${VAR}` → its value (an unset VAR is an error), `${VAR:-default}` → value or default."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        value = os.environ.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise ConfigError(f"config file references ${{{name}}}, which is not set")
            return default
        return value

    return _VAR.sub(sub, text)


class _YamlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = _CONFIG_FILE.get() or os.environ.get("CSTP_CONFIG")
        if not path:
            return {}
        return load_yaml_config(Path(path))


def load_yaml_config(path: Path) -> dict[str, Any]:
    """Read a YAML config file into flat setting names."""
    try:
        raw = yaml.safe_load(expand_vars(path.read_text(encoding="utf-8"))) or {}
    except OSError as e:
        raise ConfigError(f"--config: cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"--config: {path} is not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"--config: {path} must hold a mapping")
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _SECTIONS and isinstance(value, dict):
            for sub_key, sub_value in value.items():
                if sub_key in _SECTIONS[key]:
                    flat[_SECTIONS[key][sub_key]] = sub_value
                else:
                    raise ConfigError(f"--config: unknown setting {key}.{sub_key} in {path}")
        elif key == "auth" and isinstance(value, dict):
            tokens = value.get("tokens") or []
            flat["auth_tokens"] = ",".join(f"{t['agent']}:{t['token']}" for t in tokens)
        elif key in Settings.model_fields:
            flat[key] = value
        else:
            raise ConfigError(f"--config: unknown setting {key} in {path}")
    return flat


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from every source; `overrides` are CLI flags (highest precedence).

    Raises ConfigError naming the setting when a value is invalid.
    """
    from pydantic import ValidationError

    token = _CONFIG_FILE.set(config_file)
    try:
        return Settings(**overrides)
    except ValidationError as e:
        raise ConfigError(_describe(e)) from None
    finally:
        _CONFIG_FILE.reset(token)


def _describe(e: Any) -> str:
    """One line per invalid setting, naming it as the operator would type it."""
    lines = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err.get("loc", ())) or "settings"
        field = Settings.model_fields.get(loc)
        env_name = loc.upper()
        if field is not None and isinstance(field.validation_alias, AliasChoices):
            env_name = str(field.validation_alias.choices[0])
        lines.append(f"invalid setting {env_name}: {err['msg']}")
    return "; ".join(lines)
