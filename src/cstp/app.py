"""The composition root: settings → adapters → services → method table → FastAPI app.

This is the only module that chooses implementations, and `create_app` is the only build path:
it builds everything eagerly (so the CLI, a test or an ASGI host get configuration and dependency
errors from the call itself), puts the routes' `WebState` on `app.state.web`, and the lifespan only
starts the background work (guardrail watcher, index check, SIGHUP) and closes everything in
reverse order at shutdown. An app that is never served is never closed: serve it, or use it as a
context manager (`TestClient(app)`).
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
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from cstp import __version__
from cstp.adapters.bm25s_index import Bm25sIndex
from cstp.domain.decisions import DecisionService
from cstp.domain.graph import GraphService
from cstp.domain.guardrails import GuardrailService
from cstp.domain.ports import DecisionStore, Embedder, Vector
from cstp.domain.record_checks import guardrail_policy
from cstp.domain.records import Decision
from cstp.domain.search import KeywordSearch, SearchService
from cstp.methods import (
    analytics,
    browse,
    calibration,
    compaction,
    decisions,
    graph,
    guardrails,
    query,
    update,
)
from cstp.methods.context import CallContext, Services
from cstp.methods.errors import ERRORS
from cstp.rpc import Dispatcher
from cstp.rpc.table import MethodTable, method_table
from cstp.runtime.coalesce import Coalescer
from cstp.runtime.guardrail_watcher import GuardrailWatcher
from cstp.runtime.instrumented import TimedEmbedder, TimedStore
from cstp.settings import Settings
from cstp.web import health, routes
from cstp.web.agent_card import a2a_card, cstp_card
from cstp.web.auth import Authenticator, load_or_generate, parse_tokens
from cstp.web.metrics import Metrics
from cstp.web.middleware import RequestContext
from cstp.web.rpc_endpoint import RpcFastPath
from cstp.web.state import WebState, dispatch_on

logger = logging.getLogger("cstp")

BATCH_THREADS = 16


@dataclass(frozen=True, slots=True)
class Adapters:
    """The two ports' implementations. Given to `create_app`, they are used instead of the ones
    the settings name (tests pass a memory store); either way the app closes them at shutdown."""

    store: DecisionStore
    embedder: Embedder


def all_methods() -> MethodTable:
    """Every registered method. The agent card lists exactly these."""
    return method_table(
        decisions.METHODS,
        query.METHODS,
        calibration.METHODS,
        guardrails.METHODS,
        compaction.METHODS,
        browse.METHODS,
        analytics.METHODS,
        update.METHODS,
        graph.METHODS,
    )


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


def admin_agents(settings: Settings, pairs: list[tuple[str, str]]) -> frozenset[str]:
    """CSTP_ADMIN_AGENTS; with no configured tokens the generated token's agent is the operator."""
    if settings.auth_tokens is None and not settings.admins:
        return frozenset(agent for agent, _ in pairs)
    return settings.admins


def auth_pairs(settings: Settings) -> list[tuple[str, str]]:
    if settings.auth_tokens is not None:
        pairs = parse_tokens(settings.auth_tokens.get_secret_value())
        if pairs:
            return pairs
    return load_or_generate(settings.token_file)


def _timed_adapters(
    settings: Settings, given: Adapters | None, metrics: Metrics, stack: ExitStack
) -> Adapters:
    def observe_embed(purpose: str, seconds: float, texts: int) -> None:
        metrics.embed_latency.labels(purpose).observe(seconds)
        metrics.embed_batch.observe(texts)

    embedder: Embedder = TimedEmbedder(given.embedder if given else build_embedder(settings), observe_embed)
    stack.callback(embedder.close)
    raw_store = given.store if given else build_store(settings, embedder.space)
    store: DecisionStore = TimedStore(raw_store, lambda op, s: metrics.store_latency.labels(op).observe(s))
    stack.callback(store.close)
    return Adapters(store, embedder)


def _item_failure(exc: BaseException) -> bool:
    """Whether a failed shared write may be the fault of one batch member (so each member is
    retried alone). A timeout or a refused connection anywhere in the cause chain is an outage:
    retrying once per member would only multiply the wait."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimeoutError | ConnectionError | httpx.TransportError):
            return False
        seen = seen.__cause__ or seen.__context__
    return True


def _services(settings: Settings, adapters: Adapters, stack: ExitStack) -> Services:
    store, embedder = adapters.store, adapters.embedder
    guardrail_service = GuardrailService(settings.guardrail_dirs)
    # Group commit: concurrent requests share embedding batches and store writes.
    embed_docs: Coalescer[str, list[float]] = Coalescer(
        lambda texts: embedder.embed(texts, "document"), settings.embed_batch_size, isolate=_item_failure
    )
    embed_queries: Coalescer[str, list[float]] = Coalescer(
        lambda texts: embedder.embed(texts, "query"), settings.embed_batch_size, isolate=_item_failure
    )

    def save_batch(items: list[tuple[Decision, Vector | None]]) -> list[None]:
        store.save(items)
        return [None] * len(items)

    saver: Coalescer[tuple[Decision, Vector | None], None] = Coalescer(save_batch, 256, isolate=_item_failure)
    decision_service = DecisionService(
        store,
        embedder,
        embed=embed_docs.submit,
        save=saver.submit,
        record_policy=guardrail_policy(guardrail_service),
    )
    search = SearchService(store, embed_queries.submit, KeywordSearch(store, Bm25sIndex()))
    graph_service = GraphService(store, decision_service)
    return Services(decision_service, search, guardrail_service, settings.agent_name, graph=graph_service)


def _web_state(
    settings: Settings,
    adapters: Adapters,
    services: Services,
    watcher: GuardrailWatcher | None,
    metrics: Metrics,
    stack: ExitStack,
) -> WebState:
    batch_executor = ThreadPoolExecutor(BATCH_THREADS, thread_name_prefix="cstp-batch")
    # At shutdown, batch members not yet started are dropped (the graceful timeout has passed, the
    # client is gone); the running ones finish, since a store write must not be cut in half.
    stack.callback(batch_executor.shutdown, wait=False, cancel_futures=True)
    table = all_methods()
    dispatcher = Dispatcher(table, ERRORS, metrics.observe_rpc, batch_executor)
    # Runs before the store and embedder close (callbacks run in reverse): calls still running
    # then (cut at the deadline, already answered) fail quietly instead of as bugs.
    stack.callback(dispatcher.stop)
    probes = (
        health.store_probe(adapters.store, settings.store_mode, lambda: services.decisions.index_state),
        health.embedder_probe(adapters.embedder, local=settings.embedding_provider == "local"),
        health.guardrails_probe(
            lambda: {**services.guardrails.status(), "watching": watcher is not None and watcher.running}
        ),
    )
    readiness = health.Readiness(probes)
    stack.callback(readiness.close)
    pairs = auth_pairs(settings)
    admins = admin_agents(settings, pairs)
    return WebState(
        authenticate=Authenticator.from_pairs(pairs).authenticate,
        dispatch=dispatch_on(dispatcher, lambda agent: CallContext(agent, services, admin=agent in admins)),
        readiness=readiness,
        cstp_card=cstp_card(settings, table, __version__),
        a2a_card=a2a_card(settings, table, __version__),
        registry=metrics.registry,
        max_body_bytes=settings.max_body_bytes,
        version=__version__,
        started=time.monotonic(),
    )


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


def create_app(settings: Settings, *, adapters: Adapters | None = None) -> FastAPI:
    """Build the whole server; the adapters the settings name unless `adapters` are given.

    Raises CstpError subclasses with operator-facing text (ConfigError for a bad setting).
    """
    metrics = Metrics()
    with ExitStack() as stack:
        timed = _timed_adapters(settings, adapters, metrics, stack)
        services = _services(settings, timed, stack)
        watcher = GuardrailWatcher(services.guardrails) if settings.guardrails_watch else None
        if watcher is not None:
            stack.callback(watcher.stop)
        web = _web_state(settings, timed, services, watcher, metrics, stack)
        metrics.add_gauges(
            {
                "cstp_decisions": ("Stored decisions", timed.store.count),
                "cstp_guardrails_loaded": (
                    "Loaded guardrail rules",
                    lambda: float(services.guardrails.status()["loaded"]),
                ),
            }
        )
        closers = stack.pop_all()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with closers:
            if watcher is not None:
                watcher.start()
            services.decisions.reconcile_in_background()
            remove_hup = _install_sighup(services.guardrails.reload)
            logger.info(
                "cstp ready",
                extra={
                    "version": __version__,
                    "store": settings.store_mode,
                    "embedder": timed.embedder.space,
                    "methods": len(all_methods()),
                    "guardrails": services.guardrails.status()["loaded"],
                },
            )
            try:
                yield
            finally:
                remove_hup()
                logger.info("shutting down: closing components")

    app = FastAPI(
        title="cstp",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # cstp's observability is Prometheus metrics and JSON logs. FastAPI's OpenTelemetry bridge
        # would engage as soon as any library set a global provider (and log exception texts);
        # off, it costs one check per request instead of several provider look-ups.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.include_router(routes.router)
    app.add_middleware(RpcFastPath)  # inside RequestContext: the call still gets its id and metrics
    app.add_middleware(RequestContext, metrics=metrics)
    app.state.web = web
    # For tests and tools in-process: the services and the (timed) adapters the app runs on.
    app.state.services = services
    app.state.adapters = timed
    return app
