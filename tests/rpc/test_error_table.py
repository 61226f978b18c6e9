"""Every domain exception class maps to a JSON-RPC error on purpose."""

from __future__ import annotations

import inspect

from cstp.domain import errors as domain
from cstp.rpc.errors import DOMAIN_ERRORS


def test_every_domain_error_class_is_mapped() -> None:
    classes = [
        c
        for _, c in inspect.getmembers(domain, inspect.isclass)
        if issubclass(c, domain.CstpError) and c is not domain.CstpError
    ]
    unmapped = [c.__name__ for c in classes if not any(k in DOMAIN_ERRORS for k in c.__mro__[:-3])]
    assert unmapped == []
