# Shared set-up for scripts/test and scripts/demo (sourced, not run).

ensure_system_packages() {
    # redis-server: the tests start their own servers on free loopback ports.
    # promtool: the alert rules are checked and unit-tested with the real tool.
    local missing=()
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v promtool >/dev/null || missing+=(prometheus)
    # chromium: the demo page is checked in a real headless browser.
    command -v chromium >/dev/null || missing+=(chromium)
    # shellcheck: the container entrypoint is linted.
    command -v shellcheck >/dev/null || missing+=(shellcheck)
    if [ ${#missing[@]} -gt 0 ]; then
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -q
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
}

ensure_venv() {
    local stamp=.venv/.installed
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    # Reinstall when pyproject.toml changed since the last install.
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        .venv/bin/python -m pip install -q --upgrade pip &&
            .venv/bin/python -m pip install -q -e ".[dev,ops]" &&
            touch "$stamp"
    fi
}
