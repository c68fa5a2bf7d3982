# switchyard container image: `docker build -t ghcr.io/switchyard/switchyard:0.1.0 .`
# Runs as `node dist/cli.js run` under a non-root UID (10001, the DaemonSet's runAsUser).

# ---- build: compile src/ to dist/ with the dev toolchain (TypeScript)
FROM node:24-slim AS build
WORKDIR /app
# A C compiler for native/malloc-trim.c (src/malloc-trim.ts: gives malloc's free memory back).
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY native ./native
RUN npm run build

# ---- runtime: production dependencies and dist/ only
FROM node:24-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# `switchyard demo` serves examples/demo.yaml: docker run --rm -p 8080:8080 <image> demo --bind 0.0.0.0
COPY examples ./examples
# Ports 80/443 as a non-root user. Kubernetes' `capabilities.add: [NET_BIND_SERVICE]` only puts
# the capability in the bounding and permitted sets; a non-root process gets it in its effective
# set only from a file capability on the binary it executes. With allowPrivilegeEscalation:false
# (no_new_privs) the kernel still grants it, because it is within what the container permits.
# Side effect, a safe one: with a file capability Node runs in secure mode and ignores
# NODE_OPTIONS and similar variables.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && setcap cap_net_bind_service=+ep /usr/local/bin/node \
 && apt-get purge -y --auto-remove libcap2-bin \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 switchyard \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin switchyard
# Numeric, so that runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
EXPOSE 80 443 1936
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["run"]
