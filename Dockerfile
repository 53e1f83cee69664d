# The manager image: a static binary on distroless, running as a non-root user with nothing else in
# the image (no shell, no package manager). Build: docker build -t <registry>/tfstate-operator:<tag> .
# internal/e2e's TestDockerfileBuildsAStaticBinary runs this file's build step and checks the result.
FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/
COPY main.go ./
ARG TARGETOS=linux TARGETARCH=amd64
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags="-s -w" -o /out/manager .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/manager /manager
# distroless' nonroot user; the chart's podSecurityContext runs as the same uid.
USER 65532:65532
ENTRYPOINT ["/manager"]
