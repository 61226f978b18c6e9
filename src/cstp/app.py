"""The composition root: settings → adapters → services → method table → FastAPI app.

This is the only module that chooses implementations. Components are built once (by the CLI before
the server starts, so configuration errors print cleanly, or by the lifespan when a test or an ASGI
host calls `create_app(settings)`), kept on `app.state`, and closed in reverse order at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from cstp import __version__
from cstp.domain.decisions import DecisionService
from cstp.domain.errors import CstpError
from cstp.domain.guardrails import GuardrailService
from cstp.domain.models import Decision
from cstp.domain.ports import DecisionStore, Embedder, Vector
from cstp.domain.search import SearchService
from cstp.methods import calibration, decisions, guardrails, query
from cstp.methods.context import Services
from cstp.rpc.table import MethodTable, method_table
from cstp.runtime.coalesce import Coalescer
from cstp.runtime.guardrail_watcher import GuardrailWatcher
from cstp.runtime.instrumented import TimedEmbedder, TimedStore
from cstp.settings import Settings
from cstp.web import routes
from cstp.web.agent_card import Card, a2a_card, cstp_card
from cstp.web.auth import Authenticator, load_or_generate, parse_tokens
from cstp.web.metrics import Metrics
from cstp.web.middleware import RequestContext

logger = logging.getLogger("cstp")

READY_PROBE_TEXT = "readiness probe"


def all_methods() -> MethodTable:
    """Every registered method. The agent card lists exactly these."""
    return method_table(decisions.METHODS, query.METHODS, calibration.METHODS, guardrails.METHODS)


def build_embedder(settings: Settings) -> Embedder:
    match settings.embedding_provider:
        case "local":
            from cstp.adapters.onnx_embedder import OnnxEmbedder

            return OnnxEmbedder(batch_size=settings.embed_batch_size)
        case "gemini":
            from cstp.adapters.gemini_embedder import GeminiEmbedder

            assert settings.gemini_api_key is not None  # Settings refuses gemini without a key
            return GeminiEmbedder(
                api_key=settings.gemini_api_key.get_secret_value(),
                model=settings.gemini_model,
                dimensions=settings.gemini_dimensions,
                base_url=settings.gemini_base_url,
                timeout=settings.gemini_timeout,
                max_retries=settings.gemini_max_retries,
            )


def build_store(settings: Settings, space: str) -> DecisionStore:
    from cstp.adapters.chroma.store import ChromaStore

    match settings.store_mode:
        case "embedded":
            return ChromaStore.embedded(
                settings.data_dir / "chroma", prefix=settings.chroma_collection_prefix, space=space
            )
        case "server":
            assert settings.chroma_url is not None
            token = settings.chroma_token.get_secret_value() if settings.chroma_token else None
            return ChromaStore.server(
                settings.chroma_url,
                token=token,
                tenant=settings.chroma_tenant,
                database=settings.chroma_database,
                prefix=settings.chroma_collection_prefix,
                space=space,
                timeout=settings.chroma_timeout,
            )


def auth_pairs(settings: Settings) -> list[tuple[str, str]]:
    if settings.auth_tokens is not None:
        pairs = parse_tokens(settings.auth_tokens.get_secret_value())
        if pairs:
            return pairs
    return load_or_generate(settings.token_file)


@dataclass
class Components:
    settings: Settings
    metrics: Metrics
    store: DecisionStore
    embedder: Embedder
    decisions: DecisionService
    search: SearchService
    guardrails: GuardrailService
    authenticator: Authenticator
    table: MethodTable
    cstp_card: Card
    a2a_card: Card
    batch_executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(16, thread_name_prefix="cstp-batch")
    )
    version: str = __version__
    started: float = field(default_factory=time.monotonic)
    guardrail_watcher: GuardrailWatcher | None = None  # None when GUARDRAILS_WATCH is off
    _closers: ExitStack = field(default_factory=ExitStack)

    @property
    def services(self) -> Services:
        return Services(self.decisions, self.search, self.guardrails, self.settings.agent_name)

    def readiness(self) -> dict[str, dict[str, Any]]:
        """Per-component state for /ready: OK or ERROR with a fixed, secret-free reason."""
        out: dict[str, dict[str, Any]] = {}
        try:
            self.store.ping()
            out["store"] = {
                "status": "OK",
                "mode": self.settings.store_mode,
                "index": self.decisions.index_state,
            }
        except Exception as e:  # any failure means not ready; the body stays fixed and secret-free
            _log_probe_failure("store", e)
            out["store"] = {"status": "ERROR", "error": "decision store unreachable"}
        try:
            if self.settings.embedding_provider == "local":
                self.embedder.embed([READY_PROBE_TEXT], "query")
            out["embedder"] = {"status": "OK", "space": self.embedder.space}
        except Exception as e:
            _log_probe_failure("embedder", e)
            out["embedder"] = {"status": "ERROR", "error": "embedder failed"}
        status = self.guardrails.status()
        watching = self.guardrail_watcher is not None and self.guardrail_watcher.running
        out["guardrails"] = {"status": "OK", **status, "watching": watching}
        return out

    def close(self) -> None:
        self._closers.close()


def _log_probe_failure(component: str, error: Exception) -> None:
    if isinstance(error, CstpError):
        logger.warning("readiness: %s failed: %s", component, error)
    else:
        logger.exception("readiness: %s failed unexpectedly", component)


def build_components(settings: Settings) -> Components:
    """Build everything the server needs. Raises CstpError subclasses with operator-facing text."""
    with ExitStack() as stack:
        metrics = Metrics()

        def observe_embed(purpose: str, seconds: float, texts: int) -> None:
            metrics.embed_latency.labels(purpose).observe(seconds)
            metrics.embed_batch.observe(texts)

        embedder: Embedder = TimedEmbedder(build_embedder(settings), observe_embed)
        stack.callback(embedder.close)
        store: DecisionStore = TimedStore(
            build_store(settings, embedder.space),
            lambda op, s: metrics.store_latency.labels(op).observe(s),
        )
        stack.callback(store.close)
        guardrail_service = GuardrailService(settings.guardrail_dirs)
        watcher = GuardrailWatcher(guardrail_service) if settings.guardrails_watch else None
        if watcher is not None:
            stack.callback(watcher.stop)

        # Group commit: concurrent requests share embedding batches and store writes.
        embed_docs: Coalescer[str, list[float]] = Coalescer(
            lambda texts: embedder.embed(texts, "document"), settings.embed_batch_size
        )
        embed_queries: Coalescer[str, list[float]] = Coalescer(
            lambda texts: embedder.embed(texts, "query"), settings.embed_batch_size
        )

        def save_batch(items: list[tuple[Decision, Vector | None]]) -> list[None]:
            store.save(items)
            return [None] * len(items)

        saver: Coalescer[tuple[Decision, Vector | None], None] = Coalescer(save_batch, 256)
        decision_service = DecisionService(store, embedder, embed=embed_docs.submit, save=saver.submit)
        search = SearchService(store, embed_queries.submit, lambda: decision_service.generation)
        table = all_methods()
        components = Components(
            settings=settings,
            metrics=metrics,
            store=store,
            embedder=embedder,
            decisions=decision_service,
            search=search,
            guardrails=guardrail_service,
            authenticator=Authenticator.from_pairs(auth_pairs(settings)),
            table=table,
            cstp_card=cstp_card(settings, table, __version__),
            a2a_card=a2a_card(settings, table, __version__),
            guardrail_watcher=watcher,
        )
        metrics.add_gauges(
            {
                "cstp_decisions": ("Stored decisions", store.count),
                "cstp_guardrails_loaded": (
                    "Loaded guardrail rules",
                    lambda: float(guardrail_service.status()["loaded"]),
                ),
            }
        )
        stack.callback(components.batch_executor.shutdown)
        components._closers = stack.pop_all()
        return components
    raise AssertionError("unreachable")  # pragma: no cover


def _install_sighup(reload: Callable[[], object]) -> Callable[[], None]:
    """SIGHUP reloads guardrails (off the event loop). Returns a function removing the handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()

    def on_hup() -> None:
        logger.info("SIGHUP: reloading guardrails")
        loop.run_in_executor(None, reload)

    try:
        loop.add_signal_handler(signal.SIGHUP, on_hup)
    except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix loops
        return lambda: None

    def remove() -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    return remove


def create_app(settings: Settings, components: Components | None = None) -> FastAPI:
    """The ASGI app. Without `components`, they are built at startup and closed at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        c = components or build_components(settings)
        app.state.components = c
        if c.guardrail_watcher is not None:
            c.guardrail_watcher.start()
        c.decisions.reconcile_in_background()
        remove_hup = _install_sighup(c.guardrails.reload)
        logger.info(
            "cstp ready",
            extra={
                "version": c.version,
                "store": settings.store_mode,
                "embedder": c.embedder.space,
                "methods": len(c.table),
                "guardrails": c.guardrails.status()["loaded"],
            },
        )
        try:
            yield
        finally:
            remove_hup()
            logger.info("shutting down: closing components")
            c.close()

    app = FastAPI(
        title="cstp",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.include_router(routes.router)
    metrics = components.metrics if components else None
    app.add_middleware(_LazyRequestContext, metrics=metrics)
    return app


class _LazyRequestContext:
    """RequestContext whose metrics come from app.state once the lifespan has built them."""

    def __init__(self, app: Any, metrics: Metrics | None) -> None:
        self.app = app
        self._metrics = metrics
        self._inner: RequestContext | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._inner is None:
            if scope["type"] != "http":
                await self.app(scope, receive, send)
                return
            metrics = self._metrics or scope["app"].state.components.metrics
            self._inner = RequestContext(self.app, metrics)
        await self._inner(scope, receive, send)
