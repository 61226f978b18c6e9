from tests.domain.guardrails.helpers import rule_dir

__all__ = ["rule_dir"]
