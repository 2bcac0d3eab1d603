# A bare Debian machine for the multi-host Ansible test (infra/ansible_docker_test.go):
# what the playbook expects of a host (python3 for Ansible's modules,
# PostgreSQL 15 for the server host, procps for sysctl) and nothing of ours:
# the playbook copies the binaries in.
FROM debian:bookworm-slim
RUN mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 postgresql-15 procps \
 && rm -rf /var/lib/apt/lists/*
# Idle until the test removes it: Ansible execs into the running container.
CMD ["sleep", "infinity"]
