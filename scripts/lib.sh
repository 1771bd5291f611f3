# Shared set-up for scripts/test, scripts/demo, scripts/check and scripts/bench.
# Sourced, not run. Everything a fresh machine needs is installed here, never by hand.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '==> %s\n' "$*" >&2; }

# ensure_apt PKG...: install Debian packages that are missing (espeak-ng, sox, libportaudio2, pulseaudio...).
ensure_apt() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# ensure_build_tools PYTHON: what the project's install needs to compile the resampler's C kernel
# (hatch_build.py): gcc, and PYTHON's headers (Debian's python3.X-dev for Debian's own Pythons; pyenv's and
# python.org's builds have theirs). Without them the install still works, on the numpy kernel.
ensure_build_tools() {
    local python="$1" include version
    ensure_apt gcc libc6-dev
    include="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    if [ ! -f "$include/Python.h" ] && [ "$(dirname "$(readlink -f "$python")")" = /usr/bin ]; then
        version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
        ensure_apt "python$version-dev"
    fi
}

# find_python VERSION: print the path of a CPython interpreter for VERSION (for example 3.11).
find_python() {
    local want="$1" cand
    for cand in "python$want" "$(command -v pyenv >/dev/null && pyenv root)/versions/$want"*/bin/python; do
        if command -v "$cand" >/dev/null 2>&1 || [ -x "$cand" ]; then
            if "$cand" -c "import sys; assert '%d.%d' % sys.version_info[:2] == '$want'" 2>/dev/null; then
                command -v "$cand" 2>/dev/null || echo "$cand"
                return 0
            fi
        fi
    done
    return 1
}

# find_any_python: the first Python 3.11 or newer (3.11, 3.12, 3.13, 3.14, then python3), or a clear error.
find_any_python() {
    local version cand
    for version in 3.11 3.12 3.13 3.14; do
        find_python "$version" && return 0
    done
    for cand in python3 python; do
        if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
            command -v "$cand"
            return 0
        fi
    done
    log "no Python 3.11 or newer found: install one (for example: apt-get install python3.11 python3.11-venv, or pyenv install 3.11)"
    return 1
}

# ensure_uv: print the path of a uv (on PATH, or installed from PyPI into $ROOT/.venv-lock), for scripts/lock
# and ensure_venv.
ensure_uv() {
    if command -v uv >/dev/null 2>&1; then command -v uv; return 0; fi
    local dir="$ROOT/.venv-lock" python
    if [ ! -x "$dir/bin/uv" ]; then
        python="$(find_any_python)" || return 1
        log "installing uv into $dir"
        "$python" -m venv "$dir" && "$dir/bin/python" -m pip install -q "uv>=0.8,<1" \
            2> >(grep -v "^WARNING: Location" >&2) || return 1
    fi
    echo "$dir/bin/uv"
}

# ensure_venv DIR PYTHON [LOCK]: create DIR with PYTHON and install exactly the locked versions of
# requirements/LOCK.txt (default dev: the dev and audio extras; demo: runtime and audio), then the project
# itself (editable, no dependencies). Re-installs only when pyproject.toml, the C kernel's source and build hook,
# the Python or that lock changed.
# The stamp DIR/.installed lists each lock installed with its hash: "PYPROJECT-PYTHON LOCK:HASH ...".
ensure_venv() {
    local dir="$1" python="$2" lock="${3:-dev}" base file hash have="" kept="" entry
    file="$ROOT/requirements/$lock.txt"
    [ -f "$file" ] || { log "no lock file $file (run scripts/lock)"; return 1; }
    hash="$(sha256sum "$file" | cut -c1-16)"
    # The project's install builds the resampler's C kernel (hatch_build.py), so its source is in the stamp.
    base="$(cat "$ROOT/pyproject.toml" "$ROOT/hatch_build.py" "$ROOT/codecs/rtvoice_codecs/_fir.c" | sha256sum | cut -c1-16)"
    base="$base-$("$python" -c 'import sys; print(sys.version)' | cut -c1-6)"
    if [ -x "$dir/bin/python" ] && [ -f "$dir/.installed" ]; then
        have="$(cat "$dir/.installed")"
        if [ "${have%% *}" = "$base" ]; then
            case " $have " in *" $lock:$hash "*) return 0 ;; esac
            for entry in ${have#* }; do  # the other locks installed before stay listed
                [ "$entry" = "$base" ] || [ "${entry%%:*}" = "$lock" ] || kept="$kept $entry"
            done
        fi
    fi
    if [ ! -x "$dir/bin/python" ] || ! "$dir/bin/python" -c 'import sys' 2>/dev/null \
        || [ "$("$dir/bin/python" -c 'import sys; print(sys.version)' | cut -c1-6)" != "${base#*-}" ]; then
        log "creating $dir with $("$python" --version)"
        rm -rf "$dir"
        kept=""
        "$python" -m venv "$dir" || return 1
    else
        log "updating $dir (requirements/$lock.txt)"
    fi
    # uv installs the same locked versions several times faster than pip; pip where uv cannot be had.
    local uv
    if uv="$(ensure_uv 2>/dev/null)"; then
        "$uv" pip install -q --python "$dir/bin/python" -r "$file" || return 1
        "$uv" pip install -q --python "$dir/bin/python" --no-deps -e "$ROOT" || return 1
    else
        "$dir/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
        # pip prints a warning for each local index folder this machine lists but lacks; they are noise.
        "$dir/bin/python" -m pip install -q -r "$file" 2> >(grep -v "^WARNING: Location" >&2) || return 1
        "$dir/bin/python" -m pip install -q --no-deps -e "$ROOT" 2> >(grep -v "^WARNING: Location" >&2) || return 1
    fi
    echo "$base$kept $lock:$hash" >"$dir/.installed"
}
