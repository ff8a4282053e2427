# syntax=docker/dockerfile:1
#
# Production image of the Coffee Shop API (also the worker and the one-shot migration; see
# docker-compose.yml). Runs the JavaScript compiled by `npm run build` (tsc, the same
# sources the tests run): measured by `npm run bench`, running through tsx instead costs
# about 40 MB of resident memory (its loader thread) and start-up time.

ARG NODE_VERSION=24

# ---- dependencies: production only; compilers in case a native module (bcrypt) has no prebuild
FROM node:${NODE_VERSION}-slim AS deps
WORKDIR /app
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- build: TypeScript → dist/
FROM node:${NODE_VERSION}-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: no compilers, no dev dependencies, no npm cache, not root
FROM node:${NODE_VERSION}-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/app/data
WORKDIR /app
# Code and dependencies stay owned by root: the process can read them, not change them.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY drizzle ./drizzle
COPY --from=build /app/dist ./dist
# The only writable place: the embedded database and generated key when DATABASE_URL is unset.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/health/ready`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node is PID 1 (no npm or shell in between), so SIGTERM reaches the server's graceful close.
# Same flags and MALLOC_ARENA_MAX as `npm run start:prod` (docs/benchmark.md, "Memory"):
# --max-semi-space-size=8 sizes V8's young generation (4 or 2 promote request garbage to the
# old generation and peaked at 211-213 MB under load, 16 at 139-152 MB, 8 at 122-147 MB);
# MALLOC_ARENA_MAX=2 keeps glibc from giving each thread (libuv pool, V8 helpers) an arena
# of its own (118-134 MB with it in the same scenarios); --heap-growing-percent=20 has V8 run
# a full collection once the old generation grows 20% past what survived the last one, not
# up to 4 times as much (users-first peaked at 119-121 MB instead of 204; no hard cap).
ENV MALLOC_ARENA_MAX=2
CMD ["node", "--max-semi-space-size=8", "--heap-growing-percent=20", "dist/server.js"]
