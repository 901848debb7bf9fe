#!/usr/bin/env bash
# Builds a real kube-apiserver from the Go module proxy for okra's
# integration tests and caches it; prints the binary's path on stdout.
#
#   tools/kube-apiserver/build.sh            # build once, print the path
#   KUBEBUILDER_ASSETS=$(dirname "$(tools/kube-apiserver/build.sh)") go test ./...
#
# The cache directory is
#   ${OKRA_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/okra}/kube-apiserver-<version>/
# and holds kube-apiserver plus an `etcd` symlink to the machine's etcd
# (tools/etcd/install.sh installs Debian's etcd-server), so the directory is
# exactly what controller-runtime's envtest wants in KUBEBUILDER_ASSETS.
# A second run finds the binary and returns at once. The Kubernetes version
# is the k8s.io/kubernetes requirement in this directory's go.mod.
# Progress goes to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
go="${GO:-go}"

version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}
	$1 == "require" && $2 == "k8s.io/kubernetes" {print $3; exit}' "$here/go.mod")"
if [[ -z "$version" ]]; then
	echo "build.sh: cannot find the k8s.io/kubernetes requirement in $here/go.mod" >&2
	exit 1
fi

cache_root="${OKRA_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/okra}"
dir="$cache_root/kube-apiserver-$version"
bin="$dir/kube-apiserver"

link_etcd() {
	local etcd
	etcd="$(command -v etcd || true)"
	if [[ -z "$etcd" && -x /usr/bin/etcd ]]; then
		etcd=/usr/bin/etcd
	fi
	if [[ -n "$etcd" ]]; then
		ln -sfn "$etcd" "$dir/etcd"
	else
		echo "build.sh: etcd is not installed; run tools/etcd/install.sh (envtest needs it beside kube-apiserver)" >&2
	fi
}

mkdir -p "$dir"
if [[ -x "$bin" ]]; then
	link_etcd
	echo "$bin"
	exit 0
fi

# One build at a time: a second caller waits and then finds the binary.
exec 9>"$dir/.lock"
flock 9
if [[ ! -x "$bin" ]]; then
	minor="${version#v1.}"
	minor="${minor%%.*}"
	pkg="k8s.io/component-base/version"
	ldflags="-s -w"
	ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
	ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
	echo "build.sh: building kube-apiserver $version into $dir (takes several minutes the first time)" >&2
	start=$SECONDS
	tmp="$dir/kube-apiserver.tmp.$$"
	trap 'rm -f "$tmp"' EXIT
	(
		cd "$here"
		# GOFLAGS from the caller (e.g. -mod=vendor for the main module) must
		# not leak into this separate module.
		GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 GOWORK=off \
			"$go" build -trimpath -ldflags "$ldflags" -o "$tmp" k8s.io/kubernetes/cmd/kube-apiserver
	)
	mv -f "$tmp" "$bin"
	echo "build.sh: built $bin in $((SECONDS - start))s" >&2
fi
link_etcd
echo "$bin"
