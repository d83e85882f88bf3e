# The Steward controller image: the built controller and stewardctl from the
# steward-controller package (node scripts/package.mjs), on the Node.js LTS it
# carries, on a Debian 12 base made here with debootstrap (there is no image
# registry to pull from). Runs as the steward user, keeps everything on one
# volume, answers its HEALTHCHECK through the standard gRPC health service.
#   node scripts/package.mjs
#   docker build --pull=false --network host --build-arg BASE=$(bash scripts/containers.sh image base) -t steward-controller .
# or, with the tag derived from the inputs: bash scripts/containers.sh image controller build/packages
#   docker run -d --network host -v steward-controller:/var/lib/steward-controller \
#     -e STEWARD_LISTEN=0.0.0.0:50051 -e STEWARD_AGENT_LISTEN=0.0.0.0:50052 steward-controller
# Settings: containers/controller-entrypoint.sh.
ARG BASE

# The package unpacked apart, so that the final image holds its files but not the .deb.
FROM ${BASE} AS package
COPY build/packages/ /tmp/debs/
RUN deb=$(ls /tmp/debs/steward-controller_*.deb | sort -V | tail -1) && \
    dpkg-deb -x "$deb" /pkg && rm -rf /tmp/debs

FROM ${BASE}
# The package's files, not its units or maintainer scripts: those enable a
# systemd unit, and a container has no systemd.
COPY --from=package /pkg/usr/ /usr/
COPY --from=package /pkg/etc/ /etc/
COPY containers/controller-entrypoint.sh /usr/local/bin/steward-entrypoint
COPY containers/entrypoint-checks.sh /usr/local/lib/steward/entrypoint-checks.sh
COPY containers/controller-healthcheck.mjs /usr/local/lib/steward/healthcheck.mjs
# The user is the one the package's postinst makes.
RUN chmod 0755 /usr/local/bin/steward-entrypoint && \
    useradd --system --user-group --home-dir /var/lib/steward-controller --no-create-home --shell /usr/sbin/nologin steward && \
    install -d -o steward -g steward -m 0750 /var/lib/steward-controller /run/steward-controller
USER steward
WORKDIR /var/lib/steward-controller
# Inventory, CA, tokens, backups: everything that must outlive the container.
VOLUME /var/lib/steward-controller
EXPOSE 50051 50052
ENV STEWARD_LISTEN=0.0.0.0:50051 STEWARD_AGENT_LISTEN=0.0.0.0:50052
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/lib/steward-controller/node/bin/node", "/usr/local/lib/steward/healthcheck.mjs"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/steward-entrypoint"]
