# CarniTrack Edge: Node-RED with the CarniTrack nodes, built the way the README builds it.
# Build stage: the same `npm ci` and build as the README (better-sqlite3 compiles here).
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build

# Runtime stage: non-root, everything that must survive under /data.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=1880 \
    TCP_PORT=3001 \
    NODE_RED_USER_DIR=/data/node-red
WORKDIR /app
COPY --from=build --chown=node:node /app /app
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 1880 3001
CMD ["node", "scripts/start.js"]
