"""Settings: precedence CLI > env > YAML > defaults, *_FILE secrets, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cstp.domain.errors import ConfigError
from cstp.settings import Settings, load_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_need_nothing() -> None:
    s = load_settings()
    assert (s.host, s.port, s.store_mode, s.embedding_provider) == (
        "0.0.0.0",
        8100,
        "embedded",
        "local",
    )
    assert s.shutdown_timeout < 10  # below Docker's default grace period
    assert s.auth_tokens is None


def test_precedence_cli_over_env_over_yaml_over_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write(tmp_path / "c.yaml", "port: 7000\nhost: 10.0.0.1\nlog_level: debug\nagent_name: from-yaml\n")
    s = load_settings(cfg)
    assert (s.port, s.host, s.log_level, s.agent_name) == (7000, "10.0.0.1", "DEBUG", "from-yaml")
    monkeypatch.setenv("CSTP_PORT", "7100")
    monkeypatch.setenv("CSTP_HOST", "127.0.0.2")
    s = load_settings(cfg)
    assert (s.port, s.host, s.agent_name) == (7100, "127.0.0.2", "from-yaml")
    s = load_settings(cfg, port=7200)
    assert (s.port, s.host) == (7200, "127.0.0.2")


def test_yaml_sections_of_server_yaml_are_read(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "server.yaml",
        """
server: {host: 127.0.0.1, port: 9001}
agent: {name: team-brain, url: "https://cstp.example"}
auth:
  tokens:
    - {agent: bot, token: "${BOT_TOKEN}"}
""",
    )
    with pytest.MonkeyPatch.context() as m:
        m.setenv("BOT_TOKEN", "bot-secret-123456")
        s = load_settings(cfg)
    assert (s.host, s.port, s.agent_name, s.agent_url) == (
        "127.0.0.1",
        9001,
        "team-brain",
        "https://cstp.example",
    )
    assert s.auth_tokens is not None
    assert s.auth_tokens.get_secret_value() == "bot:bot-secret-123456"


def test_workers_from_yaml_env_and_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write(tmp_path / "server.yaml", "server: {workers: 3}\n")
    assert load_settings().workers == 1
    assert load_settings(cfg).workers == 3
    monkeypatch.setenv("CSTP_WORKERS", "4")
    assert load_settings(cfg).workers == 4
    assert load_settings(cfg, workers=2).workers == 2
    monkeypatch.setenv("CSTP_WORKERS", "0")
    with pytest.raises(ConfigError, match="CSTP_WORKERS"):
        load_settings()


def test_yaml_var_expansion_with_default_and_unset_error(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.yaml", "port: ${MY_PORT:-8300}\n")
    assert load_settings(cfg).port == 8300
    bad = write(tmp_path / "bad.yaml", "port: ${NOT_SET_ANYWHERE}\n")
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE"):
        load_settings(bad)


def test_unknown_yaml_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="prot"):
        load_settings(write(tmp_path / "c.yaml", "prot: 1\n"))


def test_cstp_config_env_names_the_yaml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSTP_CONFIG", str(write(tmp_path / "c.yaml", "port: 7555\n")))
    assert load_settings().port == 7555


def test_secret_file_variants(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSTP_AUTH_TOKENS_FILE", str(write(tmp_path / "t", "a:tok-12345678\n")))
    monkeypatch.setenv("CHROMA_TOKEN_FILE", str(write(tmp_path / "c", "chroma-secret\n")))
    monkeypatch.setenv("GEMINI_API_KEY_FILE", str(write(tmp_path / "g", "gem-key\n")))
    s = load_settings()
    assert s.auth_tokens is not None and s.auth_tokens.get_secret_value() == "a:tok-12345678"
    assert s.chroma_token is not None and s.chroma_token.get_secret_value() == "chroma-secret"
    assert s.gemini_api_key is not None and s.gemini_api_key.get_secret_value() == "gem-key"


def test_secret_and_its_file_together_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSTP_AUTH_TOKENS", "a:b-12345678")
    monkeypatch.setenv("CSTP_AUTH_TOKENS_FILE", str(write(tmp_path / "t", "a:c-12345678")))
    with pytest.raises(ConfigError, match="both set"):
        load_settings()


def test_unreadable_secret_file_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY_FILE", "/nonexistent/key")
    with pytest.raises(ConfigError, match="GEMINI_API_KEY_FILE"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CSTP_PORT", "0"),
        ("CSTP_PORT", "http"),
        ("LOG_LEVEL", "LOUD"),
        ("CHROMA_URL", "chromadb:8000"),
        ("EMBEDDING_PROVIDER", "openai"),
        ("CSTP_SHUTDOWN_TIMEOUT", "-1"),
        ("CSTP_AUTH_TOKENS", "changeme"),
    ],
)
def test_invalid_values_name_the_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_gemini_requires_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDDING_PROVIDER", "gemini")
    with pytest.raises(ConfigError, match="GEMINI_API_KEY"):
        load_settings()


def test_chroma_url_selects_server_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHROMA_URL", "http://127.0.0.1:8000/")
    s = load_settings()
    assert s.store_mode == "server" and s.chroma_url == "http://127.0.0.1:8000"


def test_guardrail_paths_split_on_colons() -> None:
    s = Settings(guardrails_paths="/a:/b::~/c")
    assert [str(p) for p in s.guardrail_dirs][:2] == ["/a", "/b"]
    assert len(s.guardrail_dirs) == 3


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(Exception, match="frozen"):
        s.port = 1  # type: ignore[misc]


def test_an_empty_secret_variable_does_not_hide_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CSTP_AUTH_TOKENS", "")
    monkeypatch.setenv("CSTP_AUTH_TOKENS_FILE", str(write(tmp_path / "t", "a:tok-12345678\n")))
    s = load_settings()
    assert s.auth_tokens is not None and s.auth_tokens.get_secret_value() == "a:tok-12345678"


def test_admin_agents_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSTP_ADMIN_AGENTS", " ops , alice,,")
    assert load_settings().admins == frozenset({"ops", "alice"})


def test_generated_token_agent_is_the_admin_only_without_configured_tokens(tmp_path: Path) -> None:
    from cstp.app import admin_agents

    generated = load_settings(data_dir=tmp_path)
    assert admin_agents(generated, [("default", "x" * 10)]) == {"default"}
    configured = load_settings(data_dir=tmp_path, auth_tokens="bot:" + "y" * 10)
    assert admin_agents(configured, [("bot", "y" * 10)]) == frozenset()
    listed = load_settings(data_dir=tmp_path, auth_tokens="bot:" + "y" * 10, admin_agents="ops")
    assert admin_agents(listed, [("bot", "y" * 10)]) == {"ops"}
