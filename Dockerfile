# Build: docker build -t msgraph-lro-exporter .
# Run:   docker run -p 10071:10071 -v $PWD/msgraph_lro.yml:/etc/msgraph_lro/msgraph_lro.yml:ro msgraph-lro-exporter
#        docker run -p 10071:10071 msgraph-lro-exporter --demo
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=0.1.0
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION} -X github.com/prometheus/common/version.BuildUser=docker" \
      -o /out/msgraph_lro_exporter .

# distroless/static: CA certificates, /etc/passwd with "nonroot", no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/msgraph_lro_exporter /bin/msgraph_lro_exporter
USER nonroot:nonroot
EXPOSE 10071
WORKDIR /etc/msgraph_lro
ENTRYPOINT ["/bin/msgraph_lro_exporter"]
CMD ["--config.file=/etc/msgraph_lro/msgraph_lro.yml"]
