# The admission webhook image:
#   docker build -t ghcr.io/kubectl-remote-secret/remote-secret-webhook:0.1.0 .
# The build stage type-checks the webhook and shared/ (not the plugin in cmd/) and bundles them,
# @kubernetes/client-node included, into one ES module. The image is that file on distroless
# Node.js 26: no shell, no npm, no node_modules, running as the distroless nonroot user (65532),
# nothing written to its filesystem.
# test/e2e/image-layout.e2e.test.ts lays out the final stage from this file and serves admission
# requests from it; keep the final stage to ENV, LABEL, WORKDIR, COPY, USER, EXPOSE, ENTRYPOINT.
# Tags are not digests: pin both images by digest where your registry policy asks for it.

# The bundle is plain JavaScript, so it is built once on the build machine's own platform for
# every target platform (docker buildx build --platform linux/amd64,linux/arm64).
FROM --platform=$BUILDPLATFORM node:26-trixie-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: nothing the bundle needs runs one (esbuild finds its binary as an optional
# dependency), and the pinned `node` dev dependency would only download a second Node.js.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY shared ./shared
COPY webhook ./webhook
RUN npx tsc -p tsconfig.build.json --noEmit && npm run bundle:webhook

FROM gcr.io/distroless/nodejs26-debian13:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="remote-secret-webhook" \
      org.opencontainers.image.description="Admission webhook that checks Istio multicluster remote secrets (kubectl-remote-secret)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
ENV NODE_ENV=production
WORKDIR /app
# The source map is for NODE_OPTIONS=--enable-source-maps when debugging. It is off by default:
# with it the process holds about 275 MB instead of 125 MB, over the Deployment's memory limit.
# The background audit's worker thread is a bundle of its own (the decision only), beside the webhook's.
COPY --from=build /src/dist/remote-secret-webhook.mjs /src/dist/remote-secret-webhook.mjs.map /src/dist/remote-secret-audit-worker.mjs /app/
USER 65532:65532
EXPOSE 8443
# An ENTRYPOINT of our own, not the base image's bare `node` with a CMD: the Deployment's `args`
# replace CMD, and must reach the webhook, not Node. A small young generation keeps the process
# near 175 MB under saturation instead of about 300 MB, at the same throughput (docs/benchmarks.md).
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=8", "/app/remote-secret-webhook.mjs"]
