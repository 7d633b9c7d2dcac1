# Shared by .ci/demo, .ci/test and .ci/run (sourced, not run): install what is missing on
# Debian 12, then configure and build with CMake + Ninja. Idempotent: apt is only asked for
# packages that are not installed yet, and the build is incremental.
set -euo pipefail

agendad_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Boost 1.81 (the unversioned Debian Boost is 1.74 and lacks Boost.JSON); libical, OpenSSL,
# yaml-cpp, GoogleTest; unicode-cldr-core for the Windows → IANA time-zone table.
agendad_packages=(
  g++ cmake ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev
  libical-dev libssl-dev libyaml-cpp-dev libsqlite3-dev libpugixml-dev
  libgtest-dev libgmock-dev
  unicode-cldr-core tzdata
  python3-aiosmtpd radicale apache2-utils
)

agendad_install_missing() {
  local missing=() p
  for p in "${agendad_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "agendad: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "agendad: installing ${missing[*]}" >&2
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# clang and its runtime libraries (libFuzzer, the sanitizers) for .ci/fuzz, the same way.
agendad_install_fuzz_tools() {
  local saved=("${agendad_packages[@]}")
  agendad_packages=(clang libclang-rt-14-dev)
  agendad_install_missing
  agendad_packages=("${saved[@]}")
}

# agendad_build DIR [TARGET] [-- extra cmake arguments]
agendad_build() {
  local dir="$1" target="${2:-all}"
  shift; [ $# -gt 0 ] && shift
  [ "${1:-}" = "--" ] && shift
  cmake -S "$agendad_root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAGENDAD_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" --target "$target" -j "$(nproc)"
}
