# oponn image: built in a Debian stage with the project's install script
# (`--build`: compilers, the -dev libraries, node for the GraphiQL bundles) and
# `make`, run from a slim Debian stage with only the runtime packages
# (`etc/install-deps.sh --runtime`: nginx, spawn-fcgi, multiwatch, the shared
# libraries) and the three executables. Runs as an unprivileged user; one
# entrypoint, infra/docker/oponn-container, picks the role (pool, nginx,
# writer, or all of them for `docker run`). The steps are the commands
# t/71-docker-buildspec.t checks exist and work here.
#
#   docker build -t oponn .
#   make image-check    (podman: builds this on a local Debian 12 base, runs and checks it)
#   docker run --rm -p 8080:8080 -e MONGODB_URI=... -e OPONN_REDIS_URL=... oponn

ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
# Where a proxy intercepts TLS, the host's CA bundle (make image-check mounts
# it and sets these); unset, node, git and curl use the image's own CAs.
ARG NODE_EXTRA_CA_CERTS
ARG GIT_SSL_CAINFO
ARG CURL_CA_BUNDLE
WORKDIR /src
# The install script and the npm lock first, so this layer (packages and the
# GraphiQL bundles' npm ci) is cached until one of them changes.
COPY etc/install-deps.sh etc/install-deps.sh
COPY package.json package-lock.json .npmrc ./
RUN etc/install-deps.sh --build
COPY . .
# Only what the runtime stage copies; a missing GraphiQL page fails the build.
RUN make clean && make -j"$(nproc)" build/oponn-worker build/oponn-writer build/oponn graphiql \
    && test -s build/graphiql/graphiql.min.js && test -s build/graphiql/index.html

FROM ${BASE_IMAGE} AS runtime
COPY etc/install-deps.sh /tmp/install-deps.sh
RUN /tmp/install-deps.sh --runtime \
    && rm -rf /var/lib/apt/lists/* /tmp/install-deps.sh \
    && useradd --system --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin oponn \
    && mkdir -p /run/oponn \
    && chown oponn:oponn /run/oponn
COPY --from=build /src/build/oponn-worker /src/build/oponn-writer /src/build/oponn /usr/local/bin/
COPY --from=build /src/schema /usr/local/share/oponn/schema
COPY --from=build /src/build/graphiql /usr/local/share/oponn/graphiql
COPY etc/nginx /usr/local/share/oponn/etc/nginx
COPY etc/redis-tls.sh /usr/local/share/oponn/etc/redis-tls.sh
COPY infra/docker/oponn-container /usr/local/bin/oponn-container

ENV OPONN_SCHEMA=/usr/local/share/oponn/schema/schema.graphql \
    OPONN_SOCKET=/run/oponn/oponn.sock \
    OPONN_HTTP_PORT=8080 \
    OPONN_HTTP_LISTEN=0.0.0.0
USER oponn
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/oponn-container", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/oponn-container"]
CMD ["all"]
