#!/usr/bin/env bash
# Sets Vivarium up on Debian: system packages (as root, through apt), npm packages, the build.
# Idempotent: run it as often as you like. Not root and something missing: it prints the exact
# apt command and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  bubblewrap python3 python3-seccomp
  python3-numpy python3-pandas python3-matplotlib python3-scipy python3-sklearn python3-seaborn
  python3-statsmodels python3-sympy python3-openpyxl python3-xlrd python3-docx python3-pypdf
  python3-h5py python3-bs4 python3-chardet python3-pytest python3-pytest-cov python3-coverage
  python3-pyflakes python3-pip python3-pil python3-nbformat
  python3-line-profiler
  # workspace volumes (mkfs.ext4); Jupyter baselines of `npm run bench`
  e2fsprogs python3-ipykernel python3-jupyter-client
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "setup: missing system packages. Run as root:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if ! command -v node >/dev/null 2>&1; then
  echo "setup: Node.js >= 20 is required: sudo apt-get install -y nodejs npm" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js >= 20 is required, found $(node --version)" >&2
  exit 1
fi

# npm ci only when the lockfile changed since the last install.
stamp=node_modules/.vivarium-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi

# The build also writes the seccomp filter (scripts/build-seccomp.py); the engine refuses to start
# without it unless `sandbox.seccomp` is false.
npm run build --silent
if [ ! -s dist/seccomp/filter.bpf ]; then
  echo "setup: dist/seccomp/filter.bpf is missing after the build: /usr/bin/python3 scripts/build-seccomp.py dist/seccomp/filter.bpf" >&2
  exit 1
fi
echo "setup: done"
