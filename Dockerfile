# The operator as a container (used by docker-compose.yml). The steps are the README's own: install
# from the lock file, then `npm start`, which runs bin/operator.js: a bundle of the TypeScript sources that
# esbuild makes on the first start (made below), else the sources through tsx; both are runtime dependencies.

# --- dependencies: production only, from the lock file; install scripts stay off, as package.json's
# allowScripts has them (native modules ship prebuilt binaries).
FROM node:20.20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime: sources and configuration, run as the unprivileged `node` user.
FROM node:20.20-bookworm-slim AS runtime
# 0.0.0.0 inside the container: the start refuses it unless a token of 24+ characters comes from the
# environment (OPERATOR_ADMIN_TOKEN or OPERATOR_TOKENS_FILE); no token is baked into the image.
ENV NODE_ENV=production \
    OPERATOR_HOST=0.0.0.0 \
    OPERATOR_PORT=8008
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY bin ./bin
COPY conf ./conf
COPY src ./src
# `operator` runs a bundle of src/ made on its first start (decision 0015); made here, once, as the
# `node` user cannot write node_modules. Without it every start would run the sources through tsx.
RUN node bin/operator.js --help > /dev/null
RUN mkdir -p /app/data /app/runs && chown node:node /app/data /app/runs
USER node
EXPOSE 8008
VOLUME ["/app/data", "/app/runs"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8008/api/v1/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["npm", "start"]
