#!/bin/sh
# One-shot (service temporal-setup, image temporalio/admin-tools), run once the server is
# up: creates the namespace Tandem runs in and registers Tandem's search attribute
# TandemSync (Keyword), then waits until the frontend accepts queries on it, so the worker
# and the ingress, which start after this exits 0, never meet an unknown namespace or
# attribute. Safe to run again: an existing namespace is left alone, and
# `search-attribute create` of an attribute that exists with the same type succeeds
# (the server skips an alias already in use; a different type is an error).
#
# Follows temporalio/samples-server compose/scripts/create-namespace.sh (wait for
# `temporal operator cluster health`, describe || create), plus the search attribute.
# `starter setup` registers the same attribute through the Tandem binary.
set -eu

address="${TEMPORAL_ADDRESS:?}"
namespace="${TEMPORAL_NAMESPACE:-default}"
retention="${NAMESPACE_RETENTION:-72h}"

# retry DESCRIPTION COMMAND...: runs COMMAND every 2 s until it succeeds, 60 tries at most.
retry() {
  what="$1"
  shift
  tries=0
  until "$@" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
      echo "gave up waiting for ${what}; last attempt:" >&2
      "$@" >&2 || true
      exit 1
    fi
    sleep 2
  done
}

echo "waiting for the Temporal frontend at ${address}"
retry "the Temporal frontend at ${address}" temporal operator cluster health --address "$address"

if temporal operator namespace describe --address "$address" --namespace "$namespace" >/dev/null 2>&1; then
  echo "namespace ${namespace} exists"
else
  echo "creating namespace ${namespace} (retention ${retention})"
  temporal operator namespace create --address "$address" --namespace "$namespace" --retention "$retention"
fi

# The frontend learns of a new namespace, and of a new search attribute, when its namespace
# cache refreshes (about 10 s): until then it answers "namespace not found", so retry, and
# then wait until a query on TandemSync is accepted.
echo "registering search attribute TandemSync (Keyword) on ${namespace}"
retry "search attribute TandemSync on ${namespace}" \
  temporal operator search-attribute create --address "$address" --namespace "$namespace" --name TandemSync --type Keyword
retry "TandemSync to be queryable in ${namespace}" \
  temporal workflow count --address "$address" --namespace "$namespace" --query 'TandemSync = "setup-check"'
echo "namespace ${namespace} is ready for Tandem"
