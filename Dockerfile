# CarniTrack Edge: Node-RED with the CarniTrack nodes and the default flow.
# The build stage runs exactly the steps of the README's "What the Dockerfile runs" (a test
# parses this file and runs them); the runtime stage only copies the result.

FROM node:20-bookworm AS build
WORKDIR /src
ENV PKG_DIR=/tmp/pkg EDGE_HOME=/opt/edge
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN mkdir -p "$PKG_DIR" && npm pack --pack-destination "$PKG_DIR"
RUN mkdir -p "$EDGE_HOME" && cp dist/settings.js "$EDGE_HOME/settings.js"
RUN cd "$EDGE_HOME" && printf '{"name":"carnitrack-edge-gateway","private":true,"allowScripts":{"better-sqlite3":true}}\n' > package.json
RUN cd "$EDGE_HOME" && npm install --omit=dev --engine-strict --no-audit --no-fund node-red@4.1.8 "$PKG_DIR"/carnitrack-node-red-edge-*.tgz

FROM node:20-bookworm-slim
# The user directory is /data, as in the official Node-RED image. TZ is the plant's zone: the
# scales print local time with no zone, and session expiry and logs read the gateway's clock.
ENV NODE_ENV=production \
    TZ=UTC \
    HTTP_PORT=1880 \
    TCP_PORT=3001 \
    NODE_RED_USER_DIR=/data \
    DATABASE_PATH=/data/carnitrack.db \
    PLU_OUTPUT_DIR=/data/generated
RUN apt-get update && apt-get install -y --no-install-recommends tzdata && rm -rf /var/lib/apt/lists/*
COPY --from=build --chown=node:node /opt/edge /opt/edge
RUN mkdir -p /data && chown node:node /data
USER node
WORKDIR /opt/edge
# Database, flows, credentials, credential secret and PLU files: all under /data.
VOLUME ["/data"]
EXPOSE 1880 3001
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||1880)+'/carnitrack/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--max-old-space-size=256", "--max-semi-space-size=8", "node_modules/node-red/red.js", "--settings", "/opt/edge/settings.js"]
