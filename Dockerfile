# Stride in a container: one static binary on an empty (scratch) image,
# run as a non-root user, its data on the /data volume.
#
# Nothing is pulled: build the context first, then the image:
#
#   make image                 # = make release, then docker build (or podman build)
#
# The binaries come from `make release` (static, CGO off, time zones
# embedded); the CA roots from the build machine, for HTTPS to the
# provider APIs. Flows are baked in from ./flows; mount your own over
# /flows to run others (docker run -v $PWD/flows:/flows:ro ...).
FROM scratch
ARG TARGETARCH=amd64
COPY dist/stride-linux-${TARGETARCH} /stride
COPY deploy/image/passwd /etc/passwd
COPY deploy/image/group /etc/group
COPY dist/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY flows /flows
COPY --chown=65532:65532 deploy/image/data/ /data/
USER 65532:65532
VOLUME ["/data"]
ENV STRIDE_FLOWS=/flows \
    STRIDE_DATA=/data \
    STRIDE_ADDR=0.0.0.0:8080 \
    STRIDE_ADMIN_ADDR=0.0.0.0:8081
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["/stride", "ready"]
ENTRYPOINT ["/stride"]
CMD ["run"]
