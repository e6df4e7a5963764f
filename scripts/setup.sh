#!/usr/bin/env bash
# Installs what hadome's lab, tests, demo and Debian package need on a Debian machine, and nothing
# already there.
# Idempotent: a second run installs nothing and says so. Prints every command it runs.
set -euo pipefail

# PostgreSQL 15 from Debian's packages: the lab runs initdb, pg_ctl, postgres and pg_basebackup from
# /usr/lib/postgresql/15/bin; postgresql-15 also creates the `postgres` OS user the servers run as.
# systemd-container (systemd-nspawn) and mmdebstrap: the lab's host topologies (`s512`) boot a real
# systemd in a container on a Debian bookworm root filesystem that mmdebstrap builds (docs/lab.md).
# etcd-server and etcd-client (3.4): the lab's quorum topologies (`etcd3`) start three real etcd
# members from /usr/bin/etcd, and tests read them with /usr/bin/etcdctl. The lab's members listen on
# Unix sockets in the lab directory; Debian's own `etcd` service is not used by the lab.
# protobuf-compiler (protoc) and libprotobuf-dev (its well-known .proto files): the etcd-client
# crate (the etcd observer) compiles etcd's protos at build time.
# nginx: hadome-nginx's tests dump real configurations with `nginx -T` (issue 14); Debian's own
# nginx service is not used (the package's postinst may start it where a service manager runs).
# dnsmasq-base: the showcase lab's DNS (issue 14), the dnsmasq binary without a service of its own;
# the lab runs it inside its own network namespace.
# chromium: the dashboard's test loads the daemon's page in real headless Chromium (issue 16).
# prometheus: its promtool checks the daemon's /metrics and examples/alerts.yml (issue 16); Debian's
# own prometheus service is not used.
packages=(postgresql-15 postgresql-client-15 systemd-container mmdebstrap etcd-server etcd-client protobuf-compiler libprotobuf-dev nginx dnsmasq-base chromium prometheus)

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

run() {
  echo "+ $*"
  "$@"
}

missing=()
for package in "${packages[@]}"; do
  installed "$package" || missing+=("$package")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: already installed: ${packages[*]}"
else
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: ${missing[*]} missing, and not root and no sudo: install them as root" >&2; exit 1; }
    sudo=(sudo)
  fi

  echo "setup: installing ${missing[*]}"
  if ! installed postgresql-common; then
    # The lab starts its own servers; Debian's default cluster (15/main on port 5432) would only
    # be one more server nobody uses. This drop-in stops postgresql-common from creating it.
    run "${sudo[@]}" mkdir -p /etc/postgresql-common/createcluster.d
    echo "+ echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/hadome.conf"
    echo "create_main_cluster = false" | "${sudo[@]}" tee /etc/postgresql-common/createcluster.d/hadome.conf >/dev/null
  fi
  run "${sudo[@]}" apt-get update -q
  run "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# cargo-deb, as the user who runs cargo (never through sudo): scripts/package.sh builds the Debian
# package with it, and tests/it/package.rs installs that package on a lab host. Compiling it takes
# about a minute (53 s here on 2 cores); pinned, as scripts/package.sh pins it.
cargo_deb_version=3.8.0
if cargo deb --version >/dev/null 2>&1; then
  echo "setup: already installed: $(cargo deb --version)"
else
  run cargo install --locked cargo-deb --version "$cargo_deb_version"
fi
echo "setup: done"
