#!/usr/bin/env bash
# Install what this repository needs, idempotently: `tools/setup.sh python|node|checkov|postgres|containers|check`.
# Called by the Makefile; safe to run again (each step skips what is already there).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIPENV_VENV_IN_PROJECT=1 PIPENV_NOSPIN=1 PIP_DISABLE_PIP_VERSION_CHECK=1

step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

python_deps() {
  command -v python3 >/dev/null || die "python3 is missing: install Python 3.11"
  python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || die "Python 3.11 is required (found $(python3 --version)); install it or use pyenv"
  if ! command -v pipenv >/dev/null; then
    step "installing pipenv"
    python3 -m pip install --quiet 'pipenv==2026.10.3'
  fi
  step "installing Python packages from Pipfile.lock into .venv (about 40 s the first time)"
  pipenv sync --dev
}

node_deps() {
  command -v npm >/dev/null || die "npm is missing: install Node.js 20 (Debian: apt-get install nodejs npm)"
  step "installing cdktf-cli from package-lock.json (about 20 s the first time)"
  npm ci --no-audit --no-fund --loglevel=error
}

checkov_deps() {
  # Its own venv: checkov's pins (boto3, packaging, networkx) conflict with Pipfile.lock.
  local venv=.venv-checkov req=security/requirements-checkov.txt
  if [ -x "$venv/bin/checkov" ] && cmp -s "$req" "$venv/.requirements"; then return 0; fi
  step "installing checkov from $req into $venv (about 30 s the first time)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --require-hashes --no-deps -r "$req"
  cp "$req" "$venv/.requirements"
}

postgres_bin() {
  # Debian puts the server binaries in a versioned folder, not on PATH.
  if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then return 0; fi
  compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null
}

postgres() {
  postgres_bin && return 0
  step "installing PostgreSQL (Debian package) for the app's tests"
  [ "$(id -u)" = 0 ] || die "PostgreSQL server binaries are missing: run 'sudo apt-get install postgresql'"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  # Tests start their own clusters; the packaged default cluster is not needed.
  command -v pg_ctlcluster >/dev/null && pg_ctlcluster --skip-systemctl-redirect 15 main stop 2>/dev/null || true
  postgres_bin || die "PostgreSQL installed but pg_ctl not found"
}

# Images, registry, tasks, load balancer, browser and load generator of the local runner (runner/, bench/).
CONTAINER_PACKAGES=(buildah podman skopeo docker-registry runc debootstrap uidmap haproxy chromium chromium-driver wrk)

containers() {
  local missing=() pkg
  for pkg in "${CONTAINER_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} = 0 ] && return 0
  step "installing ${missing[*]} (Debian packages) for the image, registry and runner tests (about 1 min)"
  [ "$(id -u)" = 0 ] || die "missing Debian packages: run 'sudo apt-get install ${missing[*]}'"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

check() {
  command -v terraform >/dev/null \
    || die "terraform is missing: install Terraform >= 1.10 (https://developer.hashicorp.com/terraform/install)"
}

for what in "$@"; do
  case "$what" in
    python) python_deps ;;
    node) node_deps ;;
    checkov) checkov_deps ;;
    postgres) postgres ;;
    containers) containers ;;
    check) check ;;
    *) die "unknown step '$what' (use python, node, checkov, postgres, containers or check)" ;;
  esac
done
