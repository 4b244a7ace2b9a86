# The admission webhook image: `docker build -t remote-secret-webhook .`
# Build with the full toolchain, ship the bundle and production dependencies only, run as non-root.

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY shared ./shared
COPY webhook ./webhook
COPY cmd ./cmd
RUN npx tsc -p tsconfig.build.json --noEmit && npm run bundle:webhook

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only: @kubernetes/client-node is loaded at run time, the rest is bundled.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist/remote-secret-webhook.mjs /src/dist/remote-secret-webhook.mjs.map ./dist/
COPY package.json ./
# A numeric user, so the kubelet can check runAsNonRoot; the root filesystem can be read-only.
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["node", "--enable-source-maps", "/app/dist/remote-secret-webhook.mjs"]
