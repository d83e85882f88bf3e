# Controller image (and the inputs for agent images: the same tree).
#   docker build -t steward .
#   docker run -p 50051:50051 -p 50052:50052 -v steward:/var/lib/steward steward
FROM node:20-bookworm-slim
WORKDIR /opt/steward
COPY package.json package-lock.json ./
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && \
    npm ci --no-audit --no-fund && \
    apt-get purge -y python3 make g++ && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
COPY . .
RUN node scripts/gen-proto.mjs
EXPOSE 50051 50052
VOLUME /var/lib/steward
ENTRYPOINT ["node", "--import", "tsx", "controller/main.ts"]
CMD ["--listen", "0.0.0.0:50051", "--agent-listen", "0.0.0.0:50052", "--data-dir", "/var/lib/steward"]
