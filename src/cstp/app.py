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
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from cstp import __version__
from cstp.adapters.bm25s_index import Bm25sIndex
from cstp.adapters.memory_tracker import MemoryTracker
from cstp.domain.browsing import BrowseService
from cstp.domain.catalogue import Catalogue
from cstp.domain.decisions import DecisionService
from cstp.domain.graph import GraphService
from cstp.domain.guardrails import GuardrailService
from cstp.domain.guardrails.breaker_gate import review_hook
from cstp.domain.ports import BreakerStore, DecisionStore, Embedder, TrackerStore, UiSessionStore, Vector
from cstp.domain.record_checks import guardrail_policy
from cstp.domain.records import Decision
from cstp.domain.search import KeywordSearch, SearchService
from cstp.domain.shared_revision import SharedRevision
from cstp.domain.snapshot import BackupService, Snapshots
from cstp.domain.tracker import SinkItem, Tracker, TrackerSink
from cstp.domain.transfer import TransferService
from cstp.domain.ui_sessions import UiSessions
from cstp.methods import (
    analytics,
    breakers,
    browse,
    calibration,
    capture,
    compaction,
    decisions,
    graph,
    guardrails,
    query,
    ready,
    session,
    tracker,
    update,
    workflow,
)
from cstp.methods import backup as backup_methods
from cstp.methods import transfer as transfer_methods
from cstp.methods.context import CallContext, Services
from cstp.methods.errors import ERRORS
from cstp.rpc import Dispatcher
from cstp.rpc.table import MethodTable, method_table
from cstp.runtime.admission import WriteAdmission
from cstp.runtime.breaker_poller import BreakerPoller
from cstp.runtime.coalesce import Coalescer
from cstp.runtime.guardrail_watcher import GuardrailWatcher
from cstp.runtime.instrumented import TimedEmbedder, TimedStore
from cstp.runtime.local_batches import LocalBatches
from cstp.runtime.snapshot import DigestCache
from cstp.runtime.write_behind import WriteBehind
from cstp.settings import Settings
from cstp.web import health, routes
from cstp.web.agent_card import a2a_card, cstp_card
from cstp.web.auth import Authenticator, load_or_generate, parse_tokens
from cstp.web.mcp import tools as mcp_tools
from cstp.web.mcp.endpoint import McpEndpoint, McpMount
from cstp.web.metrics import Metrics
from cstp.web.middleware import RequestContext
from cstp.web.rpc_endpoint import RpcFastPath
from cstp.web.state import WebState, call_on, dispatch_on
from cstp.web.ui import UiState
from cstp.web.ui import mount as ui_mount
from cstp.web.ui.routes import root as ui_root

logger = logging.getLogger("cstp")

BATCH_THREADS = 16
WORKFLOW_THREADS = 16
# Methods whose requests may be up to CSTP_IMPORT_MAX_BODY_BYTES (the others: CSTP_MAX_BODY_BYTES).
BULK_METHODS = frozenset({"cstp.importDecisions", "cstp.restoreWrite"})


@dataclass(frozen=True, slots=True)
class Adapters:
    """The ports' implementations. Given to `create_app`, they are used instead of the ones
    the settings name (tests pass a memory store); either way the app closes them at shutdown.
    `breakers` (the circuit breakers' shared log) defaults to the store's own (`<prefix>-breakers`
    for Chroma) or, for a store without one, a log in process memory."""

    store: DecisionStore
    embedder: Embedder
    breakers: BreakerStore | None = None
    # The deliberation tracker's rows; None: the decision store's own (`tracker()` of a Chroma
    # store), or process memory for a store without one.
    tracker: TrackerStore | None = None

    # Raw collection access for backup/restore; taken from the store when it offers `snapshots()`.
    snapshots: Snapshots | None = None
    # The dashboard's sessions; None: the store's own (`<prefix>-ui-sessions`) or process memory.
    ui_sessions: UiSessionStore | None = None


def all_methods() -> MethodTable:
    """Every registered method. The agent card lists exactly these. Capture wraps the observed
    methods (`methods.capture`), so every transport that dispatches through this table captures."""
    return capture.with_capture(
        method_table(
            decisions.METHODS,
            query.METHODS,
            calibration.METHODS,
            guardrails.METHODS,
            compaction.METHODS,
            browse.METHODS,
            analytics.METHODS,
            update.METHODS,
            graph.METHODS,
            breakers.METHODS,
            tracker.METHODS,
            workflow.METHODS,
            session.METHODS,
            ready.METHODS,
            transfer_methods.METHODS,
            backup_methods.METHODS,
        )
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
    breaker_log = (given.breakers if given else None) or breaker_store_of(raw_store)
    from cstp.adapters.chroma.store import ChromaStore

    snapshots = given.snapshots if given and given.snapshots else None
    if snapshots is None and isinstance(raw_store, ChromaStore):
        snapshots = raw_store.snapshots()
    sessions = (given.ui_sessions if given else None) or ui_session_store(raw_store)
    return Adapters(
        store, embedder, breaker_log, tracker_store(settings, given, raw_store), snapshots, sessions
    )


def ui_session_store(store: DecisionStore) -> UiSessionStore:
    """The dashboard's sessions beside `store`'s records (ChromaStore.ui_sessions), so every process
    on one database shares them; for a store without them (the memory store), process memory."""
    own = getattr(store, "ui_sessions", None)
    if callable(own):
        found: UiSessionStore = own()
        return found
    from cstp.adapters.memory_ui_sessions import MemoryUiSessions

    return MemoryUiSessions()


def tracker_store(settings: Settings, given: Adapters | None, raw_store: DecisionStore) -> TrackerStore:
    """Where captured deliberation inputs live.

    The given rows if any. On a Chroma server: the store's own `<prefix>-tracker` collection, so
    every process on that server shares them. Otherwise (embedded Chroma, the memory store) process
    memory: an embedded database has exactly one process, and embedded Chroma holds the
    interpreter lock for the whole of every write (26 ms for one row, measured), which would stall
    every request behind each batch of captured inputs.
    """
    if given is not None and given.tracker is not None:
        return given.tracker
    own = getattr(raw_store, "tracker", None)
    if settings.store_mode == "server" and callable(own):
        found: TrackerStore = own()
        return found
    return MemoryTracker()


def breaker_store_of(store: DecisionStore) -> BreakerStore:
    """The breaker log kept beside `store`'s records (ChromaStore.breaker_store), so every process
    on one database shares it; a store without one (the memory store) gets a log in memory."""
    own = getattr(store, "breaker_store", None)
    if callable(own):
        found: BreakerStore = own()
        return found
    from cstp.adapters.memory_breakers import MemoryBreakers

    return MemoryBreakers()


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


def _none_each(items: list[Any], write: Callable[[list[Any]], object]) -> list[None]:
    """`write(items)`, with the one result per item a `Coalescer` hands back to each caller."""
    write(items)
    return [None] * len(items)


def _services(settings: Settings, adapters: Adapters, stack: ExitStack) -> Services:
    store, embedder = adapters.store, adapters.embedder
    guardrail_service = GuardrailService(settings.guardrail_dirs, breaker_store=adapters.breakers)
    # Group commit: concurrent requests share embedding batches and store writes.
    embed_docs: Coalescer[str, list[float]] = Coalescer(
        lambda texts: embedder.embed(texts, "document"),
        settings.embed_batch_size,
        isolate=_item_failure,
        name="cstp-embed-documents",
    )
    embed_queries: Coalescer[str, list[float]] = Coalescer(
        lambda texts: embedder.embed(texts, "query"),
        settings.embed_batch_size,
        isolate=_item_failure,
        name="cstp-embed-queries",
    )

    # One catalogue: listings and stats read it, list mode takes its newest ids from it, and
    # selective filtered searches take their candidate ids from it (`Catalogue.matching_ids`).
    # It is the process's one reader of the store's change feed.
    # On a Chroma server other processes (workers, replicas) write too: the in-memory read models
    # follow their writes through that feed (domain.shared_revision). An embedded data directory
    # has one process (cli locks it): its own writes are all there is.
    catalogue = Catalogue(store)
    shared = SharedRevision(store, catalogue) if settings.store_mode == "server" else None
    revision = shared.revision if shared is not None else store.revision
    keyword = KeywordSearch(store, Bm25sIndex(), revision=revision)
    if shared is not None:
        catalogue.follow_remote(keyword.written_elsewhere)

    @contextmanager
    def writing(decisions: Sequence[Decision]) -> Iterator[None]:
        """Around every store write of decisions in this process: the in-memory read models take
        them once stored, without reading them back (other processes' come through the feed)."""
        with catalogue.writing(decisions), keyword.writing(decisions):
            yield

    def save_batch(items: list[tuple[Decision, Vector | None]]) -> list[None]:
        with writing([d for d, _ in items]):
            store.save(items)
        return [None] * len(items)

    def insert_batch(items: list[tuple[Decision, Vector | None]]) -> list[None]:
        with writing([d for d, _ in items]):
            store.insert(items)
        return [None] * len(items)

    saver: Coalescer[tuple[Decision, Vector | None], None] = Coalescer(
        save_batch, 256, isolate=_item_failure, name="cstp-save"
    )
    # New records (recordDecision) in their own group commit: `insert` skips the read-before-write.
    inserter: Coalescer[tuple[Decision, Vector | None], None] = Coalescer(
        insert_batch, 256, isolate=_item_failure, name="cstp-insert"
    )
    for group_commit in (embed_docs, embed_queries, saver, inserter):
        stack.callback(group_commit.close)  # before the store and embedder close (reverse order)
    decision_service = DecisionService(
        store,
        embedder,
        embed=embed_docs.submit,
        save=saver.submit,
        insert=inserter.submit,
        record_policy=guardrail_policy(guardrail_service),
        on_review=review_hook(guardrail_service.breakers) if guardrail_service.breakers else None,
        id_prefixes=catalogue.ids_with_prefix,
    )
    graph_service = GraphService(store, decision_service)
    browse_service = BrowseService(store, catalogue, decision_service.scan)
    search = SearchService(
        store,
        embed_queries.submit,
        keyword,
        newest=browse_service.newest,
        candidates=catalogue.matching_ids,
    )
    assert adapters.tracker is not None  # _timed_adapters always sets it
    tracker_rows = adapters.tracker
    deliberation: Tracker

    def purge() -> object:
        return deliberation.purge()

    # On a Chroma server captured inputs are written behind the request (runtime.write_behind),
    # closed before the store (the stack closes in reverse) so queued inputs are written at
    # shutdown; process memory takes them in batches (runtime.local_batches).
    sink: TrackerSink
    if not isinstance(tracker_rows, MemoryTracker):
        behind = WriteBehind[SinkItem](lambda items: deliberation.apply(items), purge=purge)
        stack.callback(behind.close)
        sink = behind
    else:
        sink = LocalBatches[SinkItem](lambda items: deliberation.apply(items))
    # preAction's concurrent parts (query and calibration beside the guardrail check).
    pool = ThreadPoolExecutor(WORKFLOW_THREADS, thread_name_prefix="cstp-workflow")
    stack.callback(pool.shutdown, wait=False, cancel_futures=True)
    # Consumed inputs are cleared before a record returns; concurrent records share the writes.
    consumptions: Coalescer[SinkItem, None] = Coalescer(
        lambda items: _none_each(items, deliberation.apply), 256, isolate=_item_failure, name="cstp-consume"
    )
    stack.callback(consumptions.close)
    deliberation = Tracker(
        tracker_rows,
        commit=consumptions.submit,
        sink=sink,
        purge_every=30.0 if isinstance(sink, LocalBatches) else None,  # the write-behind purges
        keep_noted=isinstance(tracker_rows, MemoryTracker),
        input_ttl=settings.tracker_input_ttl,
        session_ttl=settings.tracker_session_ttl,
        history_size=settings.tracker_history_size,
    )
    # Imports embed in one call per request (the embedder batches by CSTP_EMBED_BATCH_SIZE) and
    # bypass the group commit: a bulk batch is its own group.
    transfer = TransferService(
        store, lambda texts: embedder.embed(texts, "document"), decision_service, writing=writing
    )
    backup = BackupService(adapters.snapshots, decision_service) if adapters.snapshots else None
    return Services(
        decision_service,
        search,
        guardrail_service,
        settings.agent_name,
        graph=graph_service,
        browse=browse_service,
        tracker=deliberation,
        digest=DigestCache(store, revision=revision, source=keyword.decisions_as_of),
        pool=pool,
        transfer=transfer,
        backup=backup,
        writes=WriteAdmission(settings.write_max_wait) if settings.write_max_wait > 0 else None,
    )


def _web_state(
    settings: Settings,
    adapters: Adapters,
    services: Services,
    watcher: GuardrailWatcher | None,
    metrics: Metrics,
    stack: ExitStack,
) -> tuple[WebState, McpEndpoint, UiState]:
    """The routes' state, the /mcp endpoint and the dashboard, all on the same dispatcher."""
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
        health.store_probe(
            adapters.store,
            settings.store_mode,
            lambda: services.decisions.index_state,
            lambda: services.browse.catalogue_state,
        ),
        health.embedder_probe(adapters.embedder, local=settings.embedding_provider == "local"),
        health.guardrails_probe(
            lambda: {**services.guardrails.status(), "watching": watcher is not None and watcher.running}
        ),
    )
    readiness = health.Readiness(probes)
    stack.callback(readiness.close)
    pairs = auth_pairs(settings)
    admins = admin_agents(settings, pairs)
    authenticate = Authenticator.from_pairs(pairs).authenticate

    def context(agent: str) -> CallContext:
        return CallContext(agent, services, admin=agent in admins)

    tools = mcp_tools.available(table)
    names = [t.name for t in tools]
    mcp = McpEndpoint(
        tools,
        call_on(dispatcher, context),
        authenticate,
        allowed_origins=settings.mcp_origins,
        max_body_bytes=settings.max_body_bytes,
        version=__version__,
    )
    web = WebState(
        authenticate=authenticate,
        dispatch=dispatch_on(dispatcher, context),
        readiness=readiness,
        cstp_card=cstp_card(settings, table, __version__, names),
        a2a_card=a2a_card(settings, table, __version__, names),
        registry=metrics.registry,
        max_body_bytes=settings.max_body_bytes,
        bulk_body_bytes=settings.import_max_body_bytes,
        bulk_methods=BULK_METHODS,
        version=__version__,
        started=time.monotonic(),
    )
    assert adapters.ui_sessions is not None  # _timed_adapters always sets it
    ui = UiState(
        call=call_on(dispatcher, context),
        sessions=UiSessions(
            adapters.ui_sessions,
            settings.ui_secret.get_secret_value() if settings.ui_secret else None,
            settings.ui_session_ttl,
        ),
        authenticate=authenticate,
        guardrail_status=services.guardrails.status,
        guardrail_files=lambda: {r.id: r.file for r in services.guardrails.rules_in_scope()},
        cookie_secure=settings.ui_cookie_secure,
    )
    return web, mcp, ui


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


def _admission_gauges(writes: WriteAdmission | None) -> dict[str, tuple[str, Callable[[], float]]]:
    """The write admission control's state on /metrics (none when CSTP_WRITE_MAX_WAIT=0)."""
    if writes is None:
        return {}
    return {
        "cstp_writes_in_flight": ("Writes admitted and not finished", lambda: float(writes.in_flight)),
        "cstp_write_expected_wait_seconds": ("Expected wait of a write arriving now", writes.expected_wait),
        "cstp_writes_refused": (
            "Writes refused since start (Server busy)",
            lambda: float(writes.refused_total),
        ),
    }


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
        poller = BreakerPoller(services.guardrails.breakers) if services.guardrails.breakers else None
        if poller is not None:
            stack.callback(poller.stop)
        web, mcp, ui = _web_state(settings, timed, services, watcher, metrics, stack)
        metrics.add_gauges(
            {
                "cstp_decisions": ("Stored decisions", timed.store.count),
                # With CSTP_WORKERS > 1 each scrape is one worker's counters: this says whose.
                "cstp_process_id": ("The id of the server process that answered", os.getpid),
                "cstp_guardrails_loaded": (
                    "Loaded guardrail rules",
                    lambda: float(services.guardrails.status()["loaded"]),
                ),
                **_admission_gauges(services.writes),
            }
        )
        closers = stack.pop_all()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with closers:
            if watcher is not None:
                watcher.start()
            if poller is not None:
                poller.start()
            services.decisions.reconcile_in_background()
            services.browse.start_loading()
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
                async with mcp.run():  # the MCP session manager's task group
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
    app.router.routes.append(ui_mount())  # the dashboard at /ui/
    app.add_route("/", ui_root, methods=["GET"])
    app.add_middleware(RpcFastPath)  # inside RequestContext: the call still gets its id and metrics
    app.add_middleware(McpMount, endpoint=mcp)  # /mcp and /mcp/, also inside RequestContext
    app.add_middleware(RequestContext, metrics=metrics)
    app.state.web = web
    app.state.ui = ui
    # For tests and tools in-process: the services and the (timed) adapters the app runs on.
    app.state.services = services
    app.state.adapters = timed
    return app
