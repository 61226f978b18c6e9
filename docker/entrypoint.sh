#!/bin/sh
# cstp image entrypoint (exec-form ENTRYPOINT; the server replaces this shell, so it gets SIGTERM
# directly as PID 1, or as tini's child under `docker run --init` / compose `init: true`).
#
#   docker run IMAGE                      -> cstp-server
#   docker run IMAGE --port 9000          -> cstp-server --port 9000
#   docker run IMAGE check-config         -> cstp-server check-config
#   docker run IMAGE python -c '...'      -> any other command runs as given
#
# Two jobs before the server starts:
#  1. A secret variable that is set but empty (`CSTP_AUTH_TOKENS=` copied from .env.example) is
#     removed, so it neither counts as a value nor hides its *_FILE variant.
#  2. With CSTP_REQUIRE_AUTH_TOKENS=true (docker-compose.yml sets it), refuse to start without
#     CSTP_AUTH_TOKENS or CSTP_AUTH_TOKENS_FILE, instead of generating a token inside the volume.
set -eu

for name in CSTP_AUTH_TOKENS CHROMA_TOKEN GEMINI_API_KEY; do
    eval "value=\${$name-unset}"
    # shellcheck disable=SC2154  # `value` is assigned by the eval above
    if [ -z "$value" ]; then unset "$name"; fi
done

case "${1:-}" in
    -* | serve | check-config) set -- cstp-server "$@" ;;
esac

if [ "${1:-}" = cstp-server ]; then
    case "${CSTP_REQUIRE_AUTH_TOKENS:-false}" in
        1 | true | TRUE | True | yes)
            if [ -z "${CSTP_AUTH_TOKENS:-}" ] && [ -z "${CSTP_AUTH_TOKENS_FILE:-}" ]; then
                cat >&2 <<'MSG'
cstp: no API tokens configured. Set CSTP_AUTH_TOKENS=agent:token[,agent2:token2] in .env
(see .env.example; make a token with `openssl rand -hex 32`), or provide them as a Docker secret
with CSTP_AUTH_TOKENS_FILE (see docker-compose.secrets.yml and docs/DOCKER.md).
MSG
                exit 2
            fi
            ;;
    esac
fi

exec "$@"
