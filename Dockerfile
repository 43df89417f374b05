# syntax=docker/dockerfile:1
#
# Tandem's container images, built from one multi-stage file:
#
#   docker build --target worker  -t tandem-worker  .   # the worker: workflows + activities
#   docker build --target ingress -t tandem-ingress .   # the starter binary: webhook ingress and every verb
#
# Both are static Go binaries (CGO_ENABLED=0, -trimpath, -ldflags "-s -w") on
# gcr.io/distroless/static-debian12:nonroot: CA certificates and tzdata, no shell, no
# package manager, user nonroot (65532). docker-compose.yml builds both targets. The
# ingress image runs `starter webhooks` by default; any other verb is a different
# command on the same image, e.g. `docker run --rm tandem-ingress status`.
#
# The heredoc below needs BuildKit (the default builder of Docker Engine 23+ and of
# `docker compose build`).

# Pinned exactly to the Go of go.mod (1.26.8); bookworm matches the runtime's Debian 12.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0
# Modules first, in their own layer: a source edit does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w" -o /out/ ./worker ./starter

# The images' HEALTHCHECK probe: distroless has no shell, curl or wget, so this tiny
# static program GETs one URL and exits 0 on a 2xx answer (the ingress's /healthz, the
# worker's /metrics). Standard library only, built outside the module.
COPY <<EOF /healthcheck/main.go
// Command healthcheck is the containers' HEALTHCHECK probe: it GETs one URL and exits 0
// on a 2xx answer, 1 otherwise.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: healthcheck URL")
		os.Exit(2)
	}
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintln(os.Stderr, "healthcheck:", os.Args[1], "answered", resp.Status)
		os.Exit(1)
	}
}
EOF
RUN --mount=type=cache,target=/root/.cache/go-build \
    cd /healthcheck && go build -trimpath -ldflags "-s -w" -o /out/healthcheck main.go

# Shared runtime base: distroless static, non-root.
FROM gcr.io/distroless/static-debian12:nonroot AS runtime
COPY --from=build /out/healthcheck /usr/local/bin/healthcheck
USER nonroot:nonroot

# `starter`: the webhook ingress by default (GET /healthz, POST /webhooks/<sync>/<side>);
# metrics on 9090 when started with --metrics. Every other verb (start, status, setup,
# pause, resume, sync-now, resync, replay, explain) is the same image with another command.
FROM runtime AS ingress
COPY --from=build /out/starter /usr/local/bin/starter
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/starter"]
CMD ["webhooks", "--config", "/etc/tandem/syncs.yaml", "--listen", "0.0.0.0:8080"]

# `worker`: workflows and activities against TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE;
# Prometheus metrics on 9090 (GET /metrics). Last, so a plain `docker build .` builds it.
FROM runtime AS worker
COPY --from=build /out/worker /usr/local/bin/worker
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/worker"]
CMD ["--config", "/etc/tandem/syncs.yaml", "--metrics", "0.0.0.0:9090"]
