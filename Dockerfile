# syntax=docker/dockerfile:1
# hubbus: build with the dev toolchain, run on a slim image with production dependencies only.

FROM node:20-slim AS build
# better-sqlite3 compiles from source when no prebuilt binary matches the platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts because the package's `prepare` builds sources that are not
# copied yet (this keeps the dependency layer cached across source changes);
# the native module then gets its install script on its own.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY gen ./gen
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts

FROM node:20-slim
# HOST: inside a container the gateway must listen beyond loopback.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=9001
WORKDIR /app
# package.json is needed at run time: it makes dist/ ESM and carries the version.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/proto ./proto
# The default DATABASE_URL (sqlite:./data/hub.db) writes here; the process does not run as root.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 9001
# /rpc/methods is part of the contract, so this probe does not depend on other routes.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||9001)+'/rpc/methods').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/src/cli/main.js", "serve"]
