package infra

import (
	"strings"
	"testing"
)

// A `# syntax=` line makes every build pull a frontend image from Docker Hub,
// which fails offline, air-gapped or behind a registry mirror; nothing in our
// Dockerfiles needs a newer frontend than the engine's own.
func TestDockerfilesNeedNoFrontendImage(t *testing.T) {
	for _, f := range []string{"server/Dockerfile", "xk6-massconn/Dockerfile"} {
		for i, line := range strings.Split(string(readFile(t, f)), "\n") {
			l := strings.ToLower(strings.ReplaceAll(line, " ", ""))
			if strings.HasPrefix(l, "#syntax=") || strings.HasPrefix(l, "#escape=") && strings.Contains(l, "syntax") {
				t.Errorf("%s:%d: %q pulls the docker/dockerfile frontend from Docker Hub on every build; remove it", f, i+1, line)
			}
		}
	}
}

// Every container's open-file limit comes from NOFILE (soft = hard), so a
// user whose engine may not raise it to the default can lower it without
// editing the file.
func TestComposeOpenFileLimitComesFromNOFILE(t *testing.T) {
	c := loadCompose(t)
	limited := 0
	for name, svc := range c.services {
		if get(svc, "ulimits") == nil {
			continue
		}
		limited++
		for _, k := range []string{"soft", "hard"} {
			if v := str(get(svc, "ulimits", "nofile", k)); v != "${NOFILE:-1048576}" {
				t.Errorf("service %s: ulimits nofile %s is %q, want ${NOFILE:-1048576}", name, k, v)
			}
		}
	}
	if limited < 3 {
		t.Errorf("only %d services set ulimits; the server, k6 and k6-part hold the connections", limited)
	}
	readme := string(readFile(t, "docs/deploy.md"))
	for _, want := range []string{"NOFILE=", "error setting rlimit"} {
		if !strings.Contains(readme, want) {
			t.Errorf("docs/deploy.md's compose section does not mention %q (how to lower the limit when the engine refuses it)", want)
		}
	}
}
