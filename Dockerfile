# Kubernaut (controller, gateway, local) and the gateway alone (kubernaut-gateway): static
# binaries on distroless, non-root.
#   docker build -t kubernaut .
# Without a Docker daemon, `make images` builds the same image as an OCI archive (hack/image).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/kubernaut ./cmd/kubernaut && \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/kubernaut-gateway ./cmd/kubernaut-gateway

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/kubernaut /kubernaut
COPY --from=build /out/kubernaut-gateway /kubernaut-gateway
USER 65532:65532
ENTRYPOINT ["/kubernaut"]
