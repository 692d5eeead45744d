# Sourced by scripts/serve.sh and scripts/test.sh: installs the Debian packages a build of
# raccordo needs when they are missing. A C toolchain and pkg-config; OpenSSL's and
# libxml2's headers (raccordo links both; its libxml2 bindings are written by hand, so no
# libclang is needed). `need_packages` adds more for the caller (the tests add Chromium).

install_missing() {
  local missing=("$@")
  command -v cc >/dev/null 2>&1 || missing+=(build-essential)
  command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
  pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev)
  pkg-config --exists libxml-2.0 2>/dev/null || missing+=(libxml2-dev)
  if ((${#missing[@]})); then
    printf '== installing %s\n' "${missing[*]}"
    local sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is missing: install Rust with rustup (https://rustup.rs) first" >&2
    exit 2
  fi
}
