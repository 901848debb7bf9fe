#!/usr/bin/env bash
# Installs etcd (Debian's etcd-server package) for okra's Kubernetes
# integration tests when it is missing; prints etcd's path on stdout.
# Idempotent: with etcd already installed it only prints the path.
# Needs root (or sudo) on Debian 12 when it has to install.
#
# The package's service is not wanted (envtest starts its own etcd on free
# ports), so it is kept from starting at install time where that is possible.
set -euo pipefail

find_etcd() {
	command -v etcd 2>/dev/null || { [[ -x /usr/bin/etcd ]] && echo /usr/bin/etcd; } || true
}

etcd="$(find_etcd)"
if [[ -n "$etcd" ]]; then
	echo "$etcd"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install.sh: etcd is missing and this is not a Debian-like system; install etcd 3.4+ and put it on PATH" >&2
	exit 1
fi

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install.sh: etcd is missing; installing it needs root (apt-get install etcd-server)" >&2
		exit 1
	fi
	sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
echo "install.sh: installing etcd-server with apt-get" >&2
# Refresh the package lists first: on a fresh machine they are empty, and
# `apt-get install` would not find the package.
"${sudo[@]}" apt-get update -qq >&2
# Keep invoke-rc.d from starting the packaged etcd service (a policy-rc.d
# that says "action forbidden"); remove it afterwards only if we made it.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [[ ! -e "$policy" ]]; then
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod 0755 "$policy"
	made_policy=1
fi
cleanup() {
	if [[ "$made_policy" -eq 1 ]]; then
		"${sudo[@]}" rm -f "$policy"
	fi
}
trap cleanup EXIT
"${sudo[@]}" apt-get install -y -qq --no-install-recommends etcd-server >&2

etcd="$(find_etcd)"
if [[ -z "$etcd" ]]; then
	echo "install.sh: etcd-server installed but no etcd binary found" >&2
	exit 1
fi
echo "install.sh: $("$etcd" --version | head -n 1)" >&2
echo "$etcd"
