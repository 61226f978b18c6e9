"""The method table as a whole: every cstp method declares its params and result models."""

from __future__ import annotations

import typing

from cstp.app import all_methods
from cstp.methods.wire import Params, Result


def test_every_method_declares_a_params_and_a_result_model() -> None:
    for name, spec in all_methods().items():
        assert issubclass(spec.params, Params), name
        assert spec.result is not None and issubclass(spec.result, Result), f"{name} has no result model"


def test_every_handler_is_annotated_to_return_its_declared_result() -> None:
    for name, spec in all_methods().items():
        returns = typing.get_type_hints(spec.handler)["return"]
        assert returns is spec.result, f"{name}: handler returns {returns}, spec says {spec.result}"
