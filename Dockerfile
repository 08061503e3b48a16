# syntax=docker/dockerfile:1
# cloud-relay container image.
#   docker build -t cloud-relay .
#   docker run -d --name cloud-relay \
#     -p 443:8443 -p 127.0.0.1:9090:9090 \
#     -v cloud-relay-data:/var/lib/cloud-relay -v cloud-relay-cache:/var/cache/cloud-relay \
#     -v cloud-relay-keys:/var/lib/cloud-relay-keys \
#     -e CLOUD_RELAY_DMS_URL=https://dms.example.com/ -e CLOUD_RELAY_TENANT_ID=t-4711 \
#     -e CLOUD_RELAY_PIN_FILE=/run/secrets/pin -e CLOUD_RELAY_FQDN=relay.example.com \
#     cloud-relay
# test/integration/docker-steps.test.ts reproduces these steps without a Docker engine.

ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: full dependencies (TypeScript, and a compiler for better-sqlite3's native addon
# when no prebuilt binary matches), compile, then drop the dev dependencies.
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && chmod 0755 dist/cli.js

# ---- runtime: production dependencies only (the addon built above, no compiler), non-root.
# NODE_OPTIONS caps V8's young generation and keeps the old generation's growth between full
# collections small, as the systemd unit does (README "Footprint").
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    CLOUD_RELAY_DATA_DIR=/var/lib/cloud-relay \
    CLOUD_RELAY_CACHE_DIR=/var/cache/cloud-relay \
    CLOUD_RELAY_HTTPS_LISTEN=0.0.0.0:8443 \
    CLOUD_RELAY_ADMIN_LISTEN=0.0.0.0:9090 \
    NODE_OPTIONS="--max-semi-space-size=2 --max-old-space-size=1024"
RUN groupadd --system --gid 10001 cloud-relay \
 && useradd --system --uid 10001 --gid cloud-relay --home-dir /var/lib/cloud-relay --shell /usr/sbin/nologin cloud-relay \
 && mkdir -p /var/lib/cloud-relay /var/lib/cloud-relay-keys /var/cache/cloud-relay \
 && chown cloud-relay:cloud-relay /var/lib/cloud-relay /var/lib/cloud-relay-keys /var/cache/cloud-relay \
 && chmod 0700 /var/lib/cloud-relay /var/lib/cloud-relay-keys /var/cache/cloud-relay
WORKDIR /opt/cloud-relay
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY README.md ./
RUN ln -s /opt/cloud-relay/dist/cli.js /usr/local/bin/cloud-relay
USER cloud-relay:cloud-relay
# The secrets key (seals device passwords in the database) lives in its own volume, next to
# the data volume but apart from it: a copy of the database alone holds no usable password.
VOLUME ["/var/lib/cloud-relay", "/var/lib/cloud-relay-keys", "/var/cache/cloud-relay"]
# 8443: phones (publish as 443); 9090: admin (health, readiness, metrics) — publish to a
# trusted network only, e.g. -p 127.0.0.1:9090:9090.
EXPOSE 8443 9090
# No curl in the slim image: Node itself asks the admin port, honouring CLOUD_RELAY_ADMIN_LISTEN.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const p=(process.env.CLOUD_RELAY_ADMIN_LISTEN||'').split(':').pop()||'9090';require('http').get({host:'127.0.0.1',port:p,path:'/healthz',timeout:4000},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"]
# SIGTERM (docker stop) drains in-flight work for shutdownGraceSeconds (30 s): give
# `docker stop -t 45` or stop_grace_period: 45s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/opt/cloud-relay/dist/cli.js"]
CMD ["start"]
