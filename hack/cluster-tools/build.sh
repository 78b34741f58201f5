#!/usr/bin/env bash
# Build -- once -- and cache the local control-plane tools used by the cluster
# test tier (issue 5, part 5): etcd 3.5, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok and helm, all from their Go modules at pinned
# versions, plus skaffold's published JSON schema.  Nothing is written inside the
# repository: everything lives under
#   ${STRATOS_TOOLS_CACHE:-$HOME/.cache/stratos-mesh/cluster-tools}/<tag>/
# where <tag> is made of the pinned versions below.  See README.md beside this file.
#
# Usage: hack/cluster-tools/build.sh [--print-bin-dir] [TOOL...]
#   TOOL is any of: schemas helm kwok etcd kube-apiserver kube-controller-manager
#   kube-scheduler kubectl dockerfile-check (default: all, in that order).
#   dockerfile-check is this repository's own hack/dockerfile-check (BuildKit's Dockerfile
#   parser), rebuilt whenever its source changes.
#   --print-bin-dir  print the bin dir and exit, building nothing.
# The last line on stdout is always the bin dir; progress goes to stderr.
#
# Environment:
#   STRATOS_TOOLS_CACHE  cache root (default $HOME/.cache/stratos-mesh/cluster-tools)
#   STRATOS_TOOLS_JOBS   go build -p value (default 1: the machines have 2 shared cores)
#   STRATOS_TOOLS_NICE   niceness of every go command (default 19)
set -euo pipefail

# ---- pins (every one of these exists on the Go module proxy) -------------------
K8S_VERSION=v1.37.2        # k8s.io/kubernetes; staging modules k8s.io/* at v0.37.2
ETCD_VERSION=v3.5.35       # go.etcd.io/etcd/server/v3 and its sibling modules
KWOK_VERSION=v0.8.0        # sigs.k8s.io/kwok
HELM_VERSION=v3.22.0       # helm.sh/helm/v3
SKAFFOLD_VERSION=v2.16.1   # github.com/GoogleContainerTools/skaffold/v2 (schemas only)
GO_MIN_MINOR=26            # go 1.26: k8s v1.37, etcd v3.5.35, kwok and helm all say `go 1.26.0`
# ---------------------------------------------------------------------------------

ALL_TOOLS=(schemas helm kwok etcd kube-apiserver kube-controller-manager kube-scheduler kubectl dockerfile-check)
TAG="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_helm-${HELM_VERSION}_skaffold-${SKAFFOLD_VERSION}"
CACHE_ROOT="${STRATOS_TOOLS_CACHE:-$HOME/.cache/stratos-mesh/cluster-tools}"
VDIR="$CACHE_ROOT/$TAG"
BIN="$VDIR/bin"
SCHEMAS="$VDIR/schemas"
MARKERS="$VDIR/markers"
LOGS="$VDIR/logs"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

say() { printf 'cluster-tools: %s\n' "$*" >&2; }
die() { printf 'cluster-tools: ERROR: %s\n' "$*" >&2; exit 1; }

print_only=0
want=()
for a in "$@"; do
  case "$a" in
    --print-bin-dir) print_only=1 ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) [[ " ${ALL_TOOLS[*]} " == *" $a "* ]] || die "unknown tool '$a' (known: ${ALL_TOOLS[*]})."
       want+=("$a") ;;
  esac
done
if (( print_only )); then echo "$BIN"; exit 0; fi
(( ${#want[@]} )) || want=("${ALL_TOOLS[@]}")

# ---- Go --------------------------------------------------------------------------
command -v go >/dev/null 2>&1 \
  || die "Go is not installed or not on PATH; install Go 1.${GO_MIN_MINOR} or newer to build the cluster tools."
export GOTOOLCHAIN=local GOWORK=off GO111MODULE=on CGO_ENABLED=0
export GOFLAGS="-p=${STRATOS_TOOLS_JOBS:-1} -buildvcs=false"
NICE=(nice -n "${STRATOS_TOOLS_NICE:-19}")
gocmd() { "${NICE[@]}" go "$@"; }
GOVER="$(gocmd env GOVERSION)"
[[ "$GOVER" =~ ^go1\.([0-9]+) ]] && (( BASH_REMATCH[1] >= GO_MIN_MINOR )) \
  || die "Go 1.${GO_MIN_MINOR} or newer is needed to build the cluster tools, found '${GOVER}'."

mkdir -p "$BIN" "$SCHEMAS" "$MARKERS" "$LOGS" "$VDIR/src"

# One build at a time per cache root (two test runs starting together must not race).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE_ROOT/.lock"
  flock 9
fi

# marker: one file per tool, naming exactly what was built; a tool whose marker and
# output are present is never rebuilt.
marker() { echo "$MARKERS/$1"; }
DFC_SRC="$REPO_ROOT/hack/dockerfile-check"
dfc_version() { echo "src-$(cat "$DFC_SRC/main.go" "$DFC_SRC/go.mod" "$DFC_SRC/go.sum" | sha256sum | cut -c1-16)"; }
is_done() {
  [[ -f "$(marker "$1")" ]] || return 1
  [[ "$1" == schemas ]] && return 0
  [[ -x "$BIN/$1" ]] || return 1
  [[ "$1" != dockerfile-check ]] || grep -qx "version=$(dfc_version)" "$(marker "$1")"
}

# run_logged TOOL CMD...: run CMD with output in logs/TOOL.log; on failure show its
# tail and stop with one clear sentence.
run_logged() {
  local tool="$1"; shift
  local cmd="$*"
  if ! "$@" >>"$LOGS/$tool.log" 2>&1; then
    tail -n 40 "$LOGS/$tool.log" >&2 || true
    die "building $tool failed (command: ${cmd/#gocmd/go}); full log: $LOGS/$tool.log"
  fi
}

mod_json_field() {  # mod_json_field FIELD MODULE@VERSION -> downloads it, prints the field
  local out
  out="$(gocmd mod download -json "$2")" || die "cannot download Go module $2 from the module proxy."
  sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" <<<"$out" | head -n1
}

finish_tool() {  # finish_tool TOOL VERSION SECONDS VERSION_OUTPUT
  local f; f="$(marker "$1")"
  {
    printf 'tool=%s\nversion=%s\ngo=%s\nbuild_seconds=%s\nbuilt_at=%s\n' \
      "$1" "$2" "$GOVER" "$3" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    [[ "$1" == schemas ]] || printf 'size_bytes=%s\n' "$(stat -c %s "$BIN/$1")"
    printf 'version_output=%s\n' "$4"
  } >"$f.tmp"
  mv "$f.tmp" "$f"
  printf '%s\t%s\t%ss\n' "$1" "$2" "$3" >>"$VDIR/build-times.tsv"
  say "$1 $2 done in ${3}s"
}

# check_version TOOL ARGS...: the fresh binary must at least print its version.
check_version() {
  local tool="$1"; shift
  local out
  out="$("$BIN/$tool.new" "$@" 2>&1)" || die "$tool was built but '$tool $*' failed: $out"
  printf '%s' "$out" | head -n 3 | tr '\n' ' ' | sed 's/[[:space:]]*$//'; echo
}

# ---- skaffold schema ---------------------------------------------------------------
build_schemas() {
  local t0=$SECONDS dir api
  dir="$(mod_json_field Dir "github.com/GoogleContainerTools/skaffold/v2@${SKAFFOLD_VERSION}")"
  [[ -d "$dir/docs-v2/content/en/schemas" ]] || die "skaffold ${SKAFFOLD_VERSION} has no docs-v2/content/en/schemas directory."
  cp -f "$dir"/docs-v2/content/en/schemas/v4beta*.json "$SCHEMAS/"
  chmod u+w "$SCHEMAS"/*.json
  finish_tool schemas "$SKAFFOLD_VERSION" $((SECONDS - t0)) "$(cd "$SCHEMAS" && echo v4beta*.json)"
}

# schemas/skaffold.json = the schema of the apiVersion skaffold.yaml uses now
# (refreshed on every run, so a bumped apiVersion needs no rebuild).
link_skaffold_schema() {
  local api
  api="$(sed -n 's/^apiVersion:[[:space:]]*skaffold\/\([^[:space:]]*\).*/\1/p' "$REPO_ROOT/skaffold.yaml" 2>/dev/null | head -n1)"
  [[ -n "$api" ]] || return 0
  [[ -f "$SCHEMAS/$api.json" ]] \
    || die "skaffold ${SKAFFOLD_VERSION} ships no schema for apiVersion skaffold/$api used by skaffold.yaml; bump SKAFFOLD_VERSION."
  cmp -s "$SCHEMAS/$api.json" "$SCHEMAS/skaffold.json" || cp -f "$SCHEMAS/$api.json" "$SCHEMAS/skaffold.json"
}

# ---- helm and kwok: plain `go build` of the published module at a pinned version ----
build_plain() {  # build_plain TOOL MODULE VERSION PKG LDFLAGS VERSION_ARGS...
  local tool="$1" mod="$2" ver="$3" pkg="$4" ldflags="$5"; shift 5
  local t0=$SECONDS w="$VDIR/src/$tool" out
  # A throwaway main module requiring exactly MODULE@VERSION: same result as
  # `go install PKG@VERSION`, but with -ldflags for the version strings.
  rm -rf "$w"; mkdir -p "$w"
  printf 'module stratos.local/cluster-tools/%s\n\ngo 1.%s.0\n\nrequire %s %s\n' \
    "$tool" "$GO_MIN_MINOR" "$mod" "$ver" >"$w/go.mod"
  # Take the module's own go.sum/requirements as they are (no upgrades).
  (cd "$w" && run_logged "$tool" gocmd mod download "$mod@$ver" \
     && run_logged "$tool" gocmd build -mod=mod -trimpath -ldflags "$ldflags" -o "$BIN/$tool.new" "$pkg")
  out="$(check_version "$tool" "$@")"
  mv -f "$BIN/$tool.new" "$BIN/$tool"
  finish_tool "$tool" "$ver" $((SECONDS - t0)) "$out"
}

build_helm() {
  # helm's Makefile derives these from the k8s.io/client-go version in its go.mod.
  local gomod cg maj min
  gomod="$(mod_json_field GoMod "helm.sh/helm/v3@${HELM_VERSION}")"
  cg="$(awk '$1=="k8s.io/client-go"{print $2; exit}' "$gomod")"   # e.g. v0.37.0
  [[ "$cg" =~ ^v0\.([0-9]+)\. ]] || die "cannot read the k8s.io/client-go version from helm's go.mod."
  maj=1 min="${BASH_REMATCH[1]}"
  local p=helm.sh/helm/v3
  build_plain helm "$p" "$HELM_VERSION" "$p/cmd/helm" \
    "-s -w -X $p/internal/version.version=${HELM_VERSION} -X $p/internal/version.gitTreeState=clean \
-X $p/pkg/lint/rules.k8sVersionMajor=$maj -X $p/pkg/lint/rules.k8sVersionMinor=$min \
-X $p/pkg/chartutil.k8sVersionMajor=$maj -X $p/pkg/chartutil.k8sVersionMinor=$min" \
    version --short
}

build_kwok() {
  build_plain kwok sigs.k8s.io/kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok \
    "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${K8S_VERSION#v}" \
    --version
}

# ---- etcd: wrapper module requiring the published go.etcd.io/etcd/* modules ----------
etcd_wrapper() {
  local w="$VDIR/src/etcd" gomod reqs
  [[ -f "$w/go.mod" ]] && return 0
  gomod="$(mod_json_field GoMod "go.etcd.io/etcd/server/v3@${ETCD_VERSION}")"
  # server/v3's go.mod replaces its sibling modules with ../<dir> (ignored outside
  # the etcd repo): require each of them at the version server/v3 itself requires,
  # which is the same release (v3.5.N, or v2.305.N for client/v2).
  reqs="$(awk '
    /^replace[[:space:]]*\(/ {inrep=1; next}
    inrep && /^\)/ {inrep=0; next}
    inrep && $2=="=>" && $3 ~ /^\.\.\// {rep[$1]=1}
    /^require[[:space:]]*\(/ {inreq=1; next}
    inreq && /^\)/ {inreq=0; next}
    inreq && $1 ~ /^go\.etcd\.io\/etcd\// {ver[$1]=$2}
    END {for (m in rep) if (m in ver) print m, ver[m]}' "$gomod" | sort)"
  [[ -n "$reqs" ]] || die "cannot read the etcd sibling modules from go.etcd.io/etcd/server/v3@${ETCD_VERSION}'s go.mod."
  local patch="${ETCD_VERSION##*.}" m v
  while read -r m v; do
    [[ "$v" == "$ETCD_VERSION" || "$v" == "v2.30${ETCD_VERSION#v3.}" || "${v##*.}" == "$patch" ]] \
      || die "etcd module $m is pinned at $v, not at release ${ETCD_VERSION}."
  done <<<"$reqs"
  mkdir -p "$w"
  {
    printf '// Generated by hack/cluster-tools/build.sh: builds etcd %s from the published modules.\n' "$ETCD_VERSION"
    printf 'module stratos.local/cluster-tools/etcd\n\ngo 1.%s.0\n\nrequire (\n\tgo.etcd.io/etcd/server/v3 %s\n' "$GO_MIN_MINOR" "$ETCD_VERSION"
    sed 's/^/\t/' <<<"$reqs"
    printf ')\n'
  } >"$w/go.mod.tmp"
  mv "$w/go.mod.tmp" "$w/go.mod"
}

build_etcd() {
  local t0=$SECONDS w="$VDIR/src/etcd" out
  etcd_wrapper
  (cd "$w" && run_logged etcd gocmd build -mod=mod -trimpath \
     -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_VERSION}" \
     -o "$BIN/etcd.new" go.etcd.io/etcd/server/v3)
  out="$(check_version etcd --version)"
  mv -f "$BIN/etcd.new" "$BIN/etcd"
  finish_tool etcd "$ETCD_VERSION" $((SECONDS - t0)) "$out"
}

# ---- Kubernetes: wrapper module mapping the staging modules to published v0.Y.Z -----
k8s_wrapper() {
  local w="$VDIR/src/kubernetes" gomod staging_ver="v0.${K8S_VERSION#v1.}"
  [[ -f "$w/go.mod" ]] && return 0
  gomod="$(mod_json_field GoMod "k8s.io/kubernetes@${K8S_VERSION}")"
  [[ -f "$gomod" ]] || die "cannot download k8s.io/kubernetes@${K8S_VERSION} from the module proxy."
  mkdir -p "$w"
  # Generated from k8s.io/kubernetes's own go.mod: every `k8s.io/X => ./staging/...`
  # becomes `k8s.io/X => k8s.io/X v0.Y.Z`; other module replacements are kept;
  # its godebug lines are copied (they only apply in the main module).
  awk -v kv="$K8S_VERSION" -v sv="$staging_ver" -v gm="$GO_MIN_MINOR" '
    BEGIN {
      print "// Generated by hack/cluster-tools/build.sh from k8s.io/kubernetes@" kv "/go.mod."
      print "module stratos.local/cluster-tools/kubernetes\n"
      print "go 1." gm ".0\n"
    }
    /^godebug / {print; next}
    /^replace[[:space:]]*\(/ {inrep=1; next}
    inrep && /^\)/ {inrep=0; next}
    inrep && NF >= 3 && $2 == "=>" {
      if ($3 ~ /^\.\/staging\//) staging[++n] = $1
      else if ($3 ~ /^\.\.?\//) {print "unsupported local replace: " $0 > "/dev/stderr"; exit 3}
      else other[++o] = $0
    }
    END {
      print "\nrequire k8s.io/kubernetes " kv "\n"
      print "replace ("
      for (i = 1; i <= n; i++) print "\t" staging[i] " => " staging[i] " " sv
      for (i = 1; i <= o; i++) print other[i]
      print ")"
      if (n == 0) exit 4
    }' "$gomod" >"$w/go.mod.tmp" \
    || die "cannot generate the Kubernetes wrapper go.mod from k8s.io/kubernetes@${K8S_VERSION}'s go.mod."
  mv "$w/go.mod.tmp" "$w/go.mod"
}

k8s_ldflags() {
  local maj min date
  maj="${K8S_VERSION#v}"; maj="${maj%%.*}"
  min="${K8S_VERSION#v*.}"; min="${min%%.*}"
  # Reproducible: the release's own publication time, not the build time.
  date="$(sed -n 's/.*"Time": *"\([^"]*\)".*/\1/p' "$(mod_json_field Info "k8s.io/kubernetes@${K8S_VERSION}")")"
  local f="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X $p.gitVersion=${K8S_VERSION} -X $p.gitMajor=$maj -X $p.gitMinor=$min"
    f+=" -X $p.gitTreeState=clean -X $p.buildDate=${date:-1970-01-01T00:00:00Z}"
  done
  echo "$f"
}

build_k8s() {  # build_k8s TOOL VERSION_ARGS...
  local tool="$1"; shift
  local t0=$SECONDS w="$VDIR/src/kubernetes" out ldflags
  k8s_wrapper
  ldflags="$(k8s_ldflags)"
  (cd "$w" && run_logged "$tool" gocmd build -mod=mod -trimpath -ldflags "$ldflags" \
     -o "$BIN/$tool.new" "k8s.io/kubernetes/cmd/$tool")
  out="$(check_version "$tool" "$@")"
  mv -f "$BIN/$tool.new" "$BIN/$tool"
  finish_tool "$tool" "$K8S_VERSION" $((SECONDS - t0)) "$out"
}

# ---- dockerfile-check: BuildKit's parser over our Dockerfiles ------------------------
build_dockerfile_check() {
  local t0=$SECONDS out
  (cd "$DFC_SRC" && run_logged dockerfile-check gocmd build -mod=readonly -trimpath \
     -o "$BIN/dockerfile-check.new" .)
  out="$("$BIN/dockerfile-check.new" "$REPO_ROOT/operator/Dockerfile" 2>&1 | head -c 80 | tr '\n' ' ')" \
    || die "dockerfile-check was built but cannot parse operator/Dockerfile: $out"
  mv -f "$BIN/dockerfile-check.new" "$BIN/dockerfile-check"
  finish_tool dockerfile-check "$(dfc_version)" $((SECONDS - t0)) "parses operator/Dockerfile"
}

# ---- main --------------------------------------------------------------------------
say "cache: $VDIR (go: $GOVER, GOFLAGS='$GOFLAGS', ${NICE[*]})"
total0=$SECONDS
for tool in "${want[@]}"; do
  if is_done "$tool"; then say "$tool: cached"; continue; fi
  say "$tool: building ..."
  : >"$LOGS/$tool.log"
  case "$tool" in
    schemas) build_schemas ;;
    helm) build_helm ;;
    kwok) build_kwok ;;
    etcd) build_etcd ;;
    kubectl) build_k8s kubectl version --client ;;
    kube-*) build_k8s "$tool" --version ;;
    dockerfile-check) build_dockerfile_check ;;
  esac
done

is_done schemas && link_skaffold_schema

complete=1
for tool in "${ALL_TOOLS[@]}"; do is_done "$tool" || complete=0; done
if (( complete )); then
  [[ -f "$VDIR/COMPLETE" ]] || printf 'tag=%s\ngo=%s\n' "$TAG" "$GOVER" >"$VDIR/COMPLETE"
fi
say "done in $((SECONDS - total0))s; $( ((complete)) && echo "all tools cached" || echo "some tools not built yet")"
echo "$BIN"
