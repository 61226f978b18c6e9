"""Read guardrail files from disk into a `RuleSet`: the only module here that reads files.

Where rules come from, in order:
1. every directory of GUARDRAILS_PATHS (a missing one is an error: a typo in a path must not
   silently turn guardrails off);
2. the packaged rules shipped in `cstp/guardrails/` (the project's own guardrails).

In each directory, only `*.yaml` / `*.yml` files directly inside it are read, sorted by name;
dot-files (editor swap files, Kubernetes `..data` links) and subdirectories are skipped. A file
holds one guardrail map or a list of them. A top-level map with a `circuit_breakers` key is
circuit-breaker configuration (`cstp.domain.breakers.config`), not a guardrail: its breakers go to
`RuleSet.breakers` (the reference server loaded it as a rule "unknown" that warned on every
check, and read breakers only from two fixed directories).

Any broken file or rule raises GuardrailError naming the file (and rule): loading is all or nothing,
so a server never runs with half a policy. Two rules with the same id are an error, except that a
user rule may replace a packaged rule of the same id (the way to adjust a shipped default).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from cstp.domain.breakers.config import BreakerConfig, check_unique, parse_breakers
from cstp.domain.errors import GuardrailError
from cstp.domain.guardrails.rules import CompiledRule, RuleSet, compile_rule

log = logging.getLogger("cstp.guardrails")
SUFFIXES = (".yaml", ".yml")


def packaged_dir() -> Path:
    """The directory of guardrails that ship inside the `cstp` package."""
    return Path(str(resources.files("cstp") / "guardrails"))


def discover(dirs: Sequence[Path], *, include_packaged: bool = True) -> list[tuple[Path, bool]]:
    """Every rule file to read, in load order, each with "is it packaged". Raises GuardrailError
    (code `missing_directory`) for a configured directory that does not exist."""
    seen: set[Path] = set()
    found: list[tuple[Path, bool]] = []
    roots = [(Path(d), False) for d in dirs]
    if include_packaged:
        roots.append((packaged_dir(), True))
    for root, packaged in roots:
        if not root.is_dir():
            if packaged:
                continue
            raise GuardrailError(
                f"guardrail directory {root} does not exist (listed in GUARDRAILS_PATHS)",
                code="missing_directory",
                file=str(root),
            )
        key = root.resolve()
        if key in seen:  # the same directory listed twice (or the packaged one listed explicitly)
            continue
        seen.add(key)
        found.extend((f, packaged) for f in sorted(root.iterdir()) if _is_rule_file(f))
    return found


def fingerprint(files: Sequence[Path]) -> str:
    """A digest of the paths, sizes and mtimes of `files`: equal digests mean nothing changed."""
    digest = hashlib.sha256()
    for f in files:
        try:
            st = f.stat()
            digest.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{f}\0gone\n".encode())
    return digest.hexdigest()[:16]


def load_rules(dirs: Sequence[Path], *, include_packaged: bool = True) -> RuleSet:
    """Read, validate and compile every rule file. Raises GuardrailError on the first problem."""
    sources = discover(dirs, include_packaged=include_packaged)
    rules: dict[str, CompiledRule] = {}
    breakers: list[BreakerConfig] = []
    packaged_ids: set[str] = set()
    for path, packaged in sources:
        maps, file_breakers = read_document(path)
        breakers.extend(file_breakers)
        for raw in maps:
            rule = compile_rule(raw, str(path))
            previous = rules.get(rule.id)
            if previous is None:
                rules[rule.id] = rule
                if packaged:
                    packaged_ids.add(rule.id)
            elif packaged and rule.id not in packaged_ids:  # a user rule already replaced it
                log.info("guardrail %s in %s replaces the packaged one", rule.id, previous.file)
            else:
                raise GuardrailError(
                    f"duplicate guardrail id (also defined in {previous.file})",
                    code="duplicate_id",
                    file=str(path),
                    rule_id=rule.id,
                )
    check_unique(breakers)
    files = tuple(path for path, _ in sources)
    return RuleSet(tuple(rules.values()), files, fingerprint(files), tuple(breakers))


def read_file(path: Path) -> list[Mapping[str, Any]]:
    """The guardrail maps in one file (none for an empty or circuit-breaker file)."""
    return read_document(path)[0]


def read_document(path: Path) -> tuple[list[Mapping[str, Any]], list[BreakerConfig]]:
    """The guardrail maps and the circuit breakers in one file."""
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise GuardrailError(f"cannot read file: {e.strerror}", code="read_error", file=where) from None
    except UnicodeDecodeError:
        raise GuardrailError("file is not UTF-8 text", code="read_error", file=where) from None
    except yaml.YAMLError as e:
        reason = " ".join(str(e).split())
        raise GuardrailError(f"invalid YAML: {reason}", code="yaml_error", file=where) from None
    if data is None:
        return [], []
    if isinstance(data, dict):
        if "circuit_breakers" in data:
            return [], parse_breakers(data, where)
        return [data], []
    if not isinstance(data, list):
        raise GuardrailError(
            f"a guardrail file holds a map or a list of maps, not a {type(data).__name__}",
            code="bad_type",
            file=where,
        )
    for index, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise GuardrailError(
                f"item {index} is a {type(item).__name__}, not a guardrail map",
                code="bad_type",
                file=where,
            )
    return data, []


def _is_rule_file(path: Path) -> bool:
    return not path.name.startswith(".") and path.suffix in SUFFIXES and path.is_file()
