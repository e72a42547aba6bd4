# A heal worker (docker-compose.temporal.yml's heal-worker service). Configure it with the
# environment: TEMPORAL_ADDRESS, HEAL_WAREHOUSE (postgres://…), HEAL_ALLOWED_ROOTS.
FROM node:20.19-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
USER node
CMD ["node", "-r", "tsx/cjs", "worker.ts"]
