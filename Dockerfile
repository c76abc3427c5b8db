# syntax=docker/dockerfile:1
# inferbox in a container: docs/operations.md#the-container. Checked structurally by
# test/unit/dockerfile.test.ts (no Docker engine where it was written; see docs/operations.md).

# ---- build: the C++ toolchain (isolated-vm compiles its addon when no prebuilt binary fits),
# every dependency (the bundler and TypeScript are dev dependencies), then dist/ ----
FROM node:20-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# .npmrc stops onnxruntime-node's install script from downloading CUDA binaries (the CPU ones ship
# in the package). npm ci runs the package's prepare script, which builds, so the sources come first.
COPY package.json package-lock.json .npmrc tsconfig.json ./
COPY tools ./tools
COPY sandbox ./sandbox
COPY src ./src
COPY bin ./bin
RUN npm ci --no-audit --no-fund
RUN npm run build
# Keep only what runs: the compiled addons stay, the bundler and the compilers go.
RUN npm prune --omit=dev --no-audit --no-fund

# ---- runtime: Node, production dependencies and dist/ only; no compiler, no sources ----
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    INFERBOX_DATA=/data
# Secrets are never baked in: pass them at run time (docker run -e, or a Kubernetes Secret).
#   INFERBOX_ADMIN_TOKEN   the admin token (unset: one is generated on the first start and printed once)
#   INFERBOX_DATABASE_URL  postgres://user:password@host:5432/db selects the PostgreSQL store (unset: the data directory)
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
# The image's files stay root's (read-only to the server); only the data directory is the server's.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
# 8080: HTTP (REST API, web console, /healthz, /readyz, /metrics). 8081: the OIP V2 gRPC port.
EXPOSE 8080 8081
# /readyz: 200 once a worker can serve, 503 while draining. No curl in the slim image: Node's fetch.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# isolated-vm needs --no-node-snapshot on Node 20 (the workers get it from the front).
ENTRYPOINT ["node", "--no-node-snapshot", "dist/src/main.js"]
