#!/usr/bin/env bash
# Moves the kube-apiserver build module to another Kubernetes release:
#
#   tools/kube-apiserver/update.sh v1.34.4
#
# Rewrites go.mod to require k8s.io/kubernetes at that version and to
# replace every staging module kubernetes' own go.mod points at ./staging
# with its published v0.<minor>.<patch>, then tidies this module (never the
# main one). build.sh caches per version, so the next build rebuilds.
#
# Check a new version against Debian's etcd before committing it: etcd
# 3.4.23 is older than what current Kubernetes releases document as their
# minimum, and v1.34.4 is the release verified to work with it (see
# README.md beside this script).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="${1:?usage: update.sh v1.X.Y}"
if [[ ! "$version" =~ ^v1\.[0-9]+\.[0-9]+$ ]]; then
	echo "update.sh: $version is not a Kubernetes release like v1.34.4" >&2
	exit 1
fi
staging="v0.${version#v1.}"
cd "$here"
export GOWORK=off GOFLAGS=-mod=mod

gomod="$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
if [[ -z "$gomod" || ! -f "$gomod" ]]; then
	echo "update.sh: cannot download k8s.io/kubernetes@$version's go.mod" >&2
	exit 1
fi
mapfile -t modules < <(sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/.*#\1#p' "$gomod")
if [[ ${#modules[@]} -eq 0 ]]; then
	echo "update.sh: no staging replacements in $gomod" >&2
	exit 1
fi

{
	sed -n '1,/^module /p' go.mod
	echo
	echo "go 1.24.0"
	echo
	echo "tool k8s.io/kubernetes/cmd/kube-apiserver"
	echo
	echo "require k8s.io/kubernetes $version"
	echo
	echo "replace ("
	for m in "${modules[@]}"; do
		printf '\t%s => %s %s\n' "$m" "$m" "$staging"
	done
	echo ")"
} > go.mod.new
mv go.mod.new go.mod
rm -f go.sum
go mod tidy
echo "update.sh: go.mod now builds kube-apiserver $version (${#modules[@]} staging modules at $staging)" >&2
