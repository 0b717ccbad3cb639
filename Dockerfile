# Build: make docker   (passes VERSION, the git revision and the date)
#    or: docker build -t msgraph-lro-exporter .   (VERSION from the file; no revision, date or version label)
# Run:   docker run -p 10071:10071 -v $PWD/msgraph_lro.yml:/etc/msgraph_lro/msgraph_lro.yml:ro msgraph-lro-exporter
#        docker run --read-only -p 10071:10071 msgraph-lro-exporter --demo
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
# .dockerignore keeps .git, local binaries, configurations and keys out.
COPY . .
# VERSION (the file) is the one copy of the number; make docker passes it
# as VERSION too, for the label below.
ARG VERSION
ARG REVISION
ARG BUILD_DATE
RUN v="${VERSION:-$(cat VERSION)}" && \
    d="$(if [ -n "$BUILD_DATE" ]; then date -u -d "$BUILD_DATE" +%Y%m%d-%H:%M:%S; fi)" && \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=$v \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.BuildDate=$d \
        -X github.com/prometheus/common/version.BuildUser=docker" \
      -o /out/msgraph_lro_exporter .

# distroless/static: CA certificates, /etc/passwd with "nonroot", no shell.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION
ARG REVISION
ARG BUILD_DATE
LABEL org.opencontainers.image.title="msgraph_lro_exporter" \
      org.opencontainers.image.description="Prometheus exporter for the health of Microsoft Graph long-running operations" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/msgraph-lro/msgraph_lro_exporter" \
      org.opencontainers.image.documentation="https://github.com/msgraph-lro/msgraph_lro_exporter/blob/main/README.md" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${BUILD_DATE}"
COPY --from=build /out/msgraph_lro_exporter /bin/msgraph_lro_exporter
COPY LICENSE /LICENSE
USER nonroot:nonroot
EXPOSE 10071
WORKDIR /etc/msgraph_lro
ENTRYPOINT ["/bin/msgraph_lro_exporter"]
CMD ["--config.file=/etc/msgraph_lro/msgraph_lro.yml"]
