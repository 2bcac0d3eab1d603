# Stand-in for golang:1.26-bookworm where Docker Hub cannot be reached
# (built by infra/standin_test.go only when `docker pull` fails). The build
# context holds the host's Go tree (go/) and CA bundle (ca-certificates.crt):
# module downloads inside the build then go through the same TLS path as the
# host's own.
FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates gcc libc6-dev make git \
 && rm -rf /var/lib/apt/lists/*
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY go/ /usr/local/go/
ENV PATH=/usr/local/go/bin:/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    GOPATH=/go \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    GIT_SSL_CAINFO=/etc/ssl/certs/ca-certificates.crt
WORKDIR /go
