"""Deployment files checked without a Docker engine: these always run."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cstp.settings import SECRET_ENV, Settings, load_settings
from tests.deploy.conftest import COMPOSE_FILE, REPO, SECRETS_FILE, TEST_OVERRIDE, base_env

DOCKERFILE = REPO / "Dockerfile"
ENV_EXAMPLE = REPO / ".env.example"
EXAMPLE_CONFIG = REPO / "config" / "cstp.yaml"
BIN = Path(sys.executable).parent


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def server() -> dict[str, Any]:
    service: dict[str, Any] = compose()["services"]["cstp-server"]
    return service


def instructions(keyword: str) -> list[str]:
    """Dockerfile instructions of one kind, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [
        line.split(None, 1)[1] if " " in line else ""
        for line in (raw.strip() for raw in text.splitlines())
        if line.upper().startswith(keyword + " ")
    ]


def env_names_read_by_settings() -> set[str]:
    names = {"CSTP_CONFIG"} | {f"{name}_FILE" for name in SECRET_ENV}
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        assert choices, f"{field} has no environment alias"
        names.add(str(choices[0]))
    return names


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration):
        total += float(number) * units[unit]
    return total


def compose_cli() -> None:
    """Skip (or fail under CSTP_REQUIRE_DOCKER=1) when Compose v2 is missing; no engine needed."""
    import os

    found = (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True, env=base_env()).returncode
        == 0
    )
    if not found:
        if os.environ.get("CSTP_REQUIRE_DOCKER") == "1":
            pytest.fail("CSTP_REQUIRE_DOCKER=1 but `docker compose` is not installed")
        pytest.skip("`docker compose` is not installed")


# --- Dockerfile -----------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(BIN / "hadolint")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_with_the_classic_builder_too() -> None:
    text = DOCKERFILE.read_text()
    assert not re.search(r"^#\s*syntax\s*=", text, re.M | re.I), "no # syntax= frontend line"
    assert not any(r.startswith("--mount") for r in instructions("RUN")), "needs BuildKit"
    assert not any(c.startswith(("--chmod", "--link")) for c in instructions("COPY"))


def test_dockerfile_base_image_is_an_arg_used_by_every_stage() -> None:
    text = DOCKERFILE.read_text()
    first_from = text.index("\nFROM ")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text[:first_from], re.M)
    froms = instructions("FROM")
    assert len(froms) >= 2, "multi-stage build"
    stages: list[str] = []
    for line in froms:
        base, _, name = line.partition(" AS ")
        assert base == "${PYTHON_IMAGE}" or base in stages, f"unpinnable base: {line}"
        stages.append(name.strip())
    assert froms[-1].startswith("${PYTHON_IMAGE} "), "the runtime starts from the bare base"


def test_dockerfile_installs_exactly_the_lock_file() -> None:
    runs = " ".join(instructions("RUN"))
    assert "pip install --no-deps -r /build/requirements.lock" in runs
    assert "COPY requirements.lock" in DOCKERFILE.read_text()


def test_dockerfile_build_backend_matches_the_dev_lock() -> None:
    lock = (REPO / "requirements-dev.lock").read_text()
    for arg, package in (("SETUPTOOLS_VERSION", "setuptools"), ("WHEEL_VERSION", "wheel")):
        (value,) = [a.split("=", 1)[1] for a in instructions("ARG") if a.startswith(arg + "=")]
        assert f"\n{package}=={value}\n" in lock, f"{arg}={value} is not the locked {package}"


def test_dockerfile_runtime_runs_as_a_numeric_non_root_user() -> None:
    users = instructions("USER")
    assert users, "USER is set"
    user = users[-1].replace("${CSTP_UID}", "10001").replace("${CSTP_GID}", "10001")
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), user


def test_dockerfile_uses_exec_form_and_exposes_8100() -> None:
    for keyword in ("CMD", "ENTRYPOINT"):
        for value in instructions(keyword):
            assert value.startswith("["), f"{keyword} must use the exec form: {value}"
    assert instructions("EXPOSE") == ["8100"]


def test_dockerfile_healthcheck_follows_cstp_port_without_curl() -> None:
    (check,) = instructions("HEALTHCHECK")
    assert "/health" in check and "CSTP_PORT" in check
    assert "curl" not in check and "wget" not in check


def test_dockerfile_disables_telemetry_and_downloads() -> None:
    env = " ".join(instructions("ENV"))
    for setting in ("ORT_DISABLE_TELEMETRY=1", "HF_HUB_OFFLINE=1", "ANONYMIZED_TELEMETRY=False"):
        assert setting in env


def test_dockerfile_has_oci_labels() -> None:
    labels = " ".join(instructions("LABEL"))
    for key in ("title", "description", "version", "revision", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_dockerignore_is_an_allow_list_that_keeps_secrets_out() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "everything excluded first, then allowed back"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert not allowed & {".env", "secrets", "data", ".git", ".venv", "tests"}


# --- docker-compose.yml -------------------------------------------------------------------------


def test_compose_files_validate_against_the_compose_spec() -> None:
    check = shutil.which("check-jsonschema") or str(BIN / "check-jsonschema")
    result = subprocess.run(
        [check, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE), str(SECRETS_FILE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_config_is_accepted_by_docker_compose(tmp_path: Path) -> None:
    compose_cli()
    empty = tmp_path / "empty.env"
    empty.write_text("")
    secret = tmp_path / "secret"
    secret.write_text("")
    env = base_env(
        CSTP_TEST_PORT="18100",
        CSTP_TEST_CHROMA_PORT="18000",
        CSTP_TEST_GUARDRAILS=str(tmp_path),
        CSTP_AUTH_TOKENS_SECRET=str(secret),
        GEMINI_API_KEY_SECRET=str(secret),
    )
    for files in (
        [COMPOSE_FILE],
        [COMPOSE_FILE, SECRETS_FILE],
        [COMPOSE_FILE, TEST_OVERRIDE],
        [COMPOSE_FILE, SECRETS_FILE, TEST_OVERRIDE],
    ):
        args = [a for f in files for a in ("-f", str(f))]
        result = subprocess.run(
            ["docker", "compose", "--env-file", str(empty), *args, "config", "--quiet"],
            capture_output=True,
            text=True,
            env=env,
        )
        assert result.returncode == 0, f"{files}: {result.stderr}"
        assert "obsolete" not in result.stderr, result.stderr


def test_compose_has_no_version_key() -> None:
    assert "version" not in compose()
    assert not re.search(r"^version\s*:", COMPOSE_FILE.read_text(), re.M)


def test_chromadb_is_pinned_internal_and_checked_without_curl() -> None:
    chroma = compose()["services"]["chromadb"]
    assert chroma["image"] == "chromadb/chroma:1.5.9"
    assert "ports" not in chroma, "ChromaDB has no auth: never publish it"
    assert any(v.endswith(":/data") for v in chroma["volumes"]), "official image keeps data in /data"
    test = " ".join(chroma["healthcheck"]["test"])
    assert "curl" not in test and "wget" not in test
    assert "/api/v2/heartbeat" in test, "the v2 API (v1 answers 410 in Chroma 1.x)"


def test_server_waits_for_healthy_chromadb_and_talks_to_it_by_service_name() -> None:
    s = server()
    assert s["depends_on"]["chromadb"]["condition"] == "service_healthy"
    assert s["environment"]["CHROMA_URL"] == "http://chromadb:8000"


def test_server_reads_env_file_and_requires_tokens() -> None:
    s = server()
    assert [e["path"] for e in s["env_file"]] == [".env"]
    assert s["environment"]["CSTP_REQUIRE_AUTH_TOKENS"] == "true"


def test_server_mounts_guardrails_and_config_read_only_where_it_reads_them() -> None:
    s = server()
    env = s["environment"]
    mounts = {v.split(":")[1]: v for v in s["volumes"]}
    guardrail_dir = env["GUARDRAILS_PATHS"].split(":")[0]
    assert mounts[guardrail_dir] == f"./guardrails:{guardrail_dir}:ro"
    config_file = Path(env["CSTP_CONFIG"])
    assert mounts[str(config_file.parent)] == f"./config:{config_file.parent}:ro"
    assert (REPO / "config" / config_file.name).is_file(), "the mounted config file exists"
    assert mounts[env["CSTP_DATA_DIR"]].startswith("cstp-data:"), "data on a named volume"


def test_server_is_hardened_and_restarts() -> None:
    s = server()
    assert s["init"] is True
    assert s["restart"] == "unless-stopped"
    assert s["read_only"] is True
    assert s["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in s["security_opt"]
    assert any(t.startswith("/tmp") for t in s["tmpfs"])


def test_stop_grace_period_exceeds_the_shutdown_timeout() -> None:
    grace = seconds(server()["stop_grace_period"])
    default = Settings.model_fields["shutdown_timeout"].default
    assert grace > default + 5, "room to drain requests and then close the stores"
    shown = re.search(r"^#?\s*CSTP_SHUTDOWN_TIMEOUT=(\S+)", ENV_EXAMPLE.read_text(), re.M)
    assert shown and grace > float(shown.group(1))


def test_secrets_example_uses_file_variants_for_tokens_and_gemini_key() -> None:
    data = yaml.safe_load(SECRETS_FILE.read_text())
    env = data["services"]["cstp-server"]["environment"]
    assert env["CSTP_AUTH_TOKENS_FILE"] == "/run/secrets/cstp_auth_tokens"
    assert env["GEMINI_API_KEY_FILE"] == "/run/secrets/gemini_api_key"
    assert set(data["secrets"]) == {"cstp_auth_tokens", "gemini_api_key"}


# --- .env.example and the example config ----------------------------------------------------------


def test_env_example_lists_every_variable_the_server_reads() -> None:
    text = ENV_EXAMPLE.read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M))
    missing = env_names_read_by_settings() - listed
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_env_example_sets_nothing_but_an_empty_token() -> None:
    active = [line for line in ENV_EXAMPLE.read_text().splitlines() if re.match(r"^[A-Z_]+=", line)]
    assert active == ["CSTP_AUTH_TOKENS="], "every other line is a commented default"


def test_env_example_shows_the_real_defaults() -> None:
    shown = dict(re.findall(r"^# ([A-Z][A-Z0-9_]+)=(.*)$", ENV_EXAMPLE.read_text(), re.M))
    for field in Settings.model_fields.values():
        name = str(field.validation_alias.choices[0])  # type: ignore[union-attr]
        if name not in shown or field.default is None or name == "CSTP_DATA_DIR":
            continue
        default = field.default
        value = shown[name]
        if isinstance(default, bool):
            assert value == str(default).lower(), name
        elif isinstance(default, int | float):
            assert float(value) == float(default), name
        else:
            assert value == str(default), name


def test_example_config_changes_no_setting() -> None:
    with_file = load_settings(EXAMPLE_CONFIG).model_dump()
    without = load_settings().model_dump()
    assert with_file == without


def test_docker_docs_cover_every_operating_task() -> None:
    text = (REPO / "docs" / "DOCKER.md").read_text()
    headings = " ".join(re.findall(r"^#+ (.+)$", text, re.M)).lower()
    for topic in (
        "build",
        "quick start",
        "standalone",
        "external chromadb",
        "configuration",
        "secrets",
        "upgrad",
        "backing up",
        "security",
        "monitoring",
        "troubleshooting",
    ):
        assert topic in headings, f"docs/DOCKER.md has no section on {topic}"
    for name in env_names_read_by_settings():
        assert f"`{name}`" in text, f"docs/DOCKER.md configuration table lacks {name}"
