package infra

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with continuation lines joined.
type instruction struct {
	Line int
	Cmd  string // upper case: FROM, RUN, COPY, ...
	Args string
}

func parseDockerfile(t *testing.T, rel string) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(string(readFile(t, rel)), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // comments inside a continued instruction are dropped
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{Line: start, Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if len(out) == 0 {
		t.Fatalf("%s has no instructions", rel)
	}
	return out
}

// execForm decodes ["a", "b"] (the exec form of CMD/ENTRYPOINT).
func execForm(t *testing.T, rel string, in instruction) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(in.Args), &v); err != nil {
		t.Fatalf("%s:%d: %s should use the exec form [\"...\"] so signals reach the binary: %v", rel, in.Line, in.Cmd, err)
	}
	return v
}

// makeTargets returns the Makefile's explicit targets and their recipes.
func makeTargets(t *testing.T) map[string][]string {
	t.Helper()
	targets := map[string][]string{}
	var current []string
	rule := regexp.MustCompile(`^([A-Za-z0-9_./%-]+(?:\s+[A-Za-z0-9_./%-]+)*)\s*:([^=]|$)`)
	for _, line := range strings.Split(string(readFile(t, "Makefile")), "\n") {
		if strings.HasPrefix(line, "\t") {
			for _, tg := range current {
				targets[tg] = append(targets[tg], strings.TrimSpace(line))
			}
			continue
		}
		if m := rule.FindStringSubmatch(line); m != nil && !strings.HasPrefix(line, ".") {
			current = strings.Fields(m[1])
			for _, tg := range current {
				if _, ok := targets[tg]; !ok {
					targets[tg] = nil
				}
			}
			continue
		}
		if strings.TrimSpace(line) != "" {
			current = nil
		}
	}
	return targets
}

// goBuildCommand matches commands that compile Go: every one of them in a
// Dockerfile must go through the Makefile instead.
var goBuildCommand = regexp.MustCompile(`\bgo\s+(build|install|run|generate)\b|\bxk6\b|build-k6\.sh`)

type dockerfileCase struct {
	path     string
	binaries map[string]string // make target -> path in the final image
}

var dockerfiles = []dockerfileCase{
	{"server/Dockerfile", map[string]string{"bin/massconn-server": "/usr/local/bin/massconn-server"}},
	{"xk6-massconn/Dockerfile", map[string]string{"bin/k6": "/usr/bin/k6", "bin/massconn-fleet": "/usr/bin/massconn-fleet"}},
}

// Every binary in an image comes from a `make` target the tests also build,
// so the container build cannot drift from the tested one.
func TestDockerfilesBuildThroughTheMakefile(t *testing.T) {
	targets := makeTargets(t)
	for _, dc := range dockerfiles {
		t.Run(dc.path, func(t *testing.T) {
			made := map[string]bool{}
			copied := map[string]string{} // target path in image -> source in build stage
			for _, in := range parseDockerfile(t, dc.path) {
				switch in.Cmd {
				case "RUN":
					if goBuildCommand.MatchString(in.Args) {
						t.Errorf("%s:%d: RUN %s compiles outside the Makefile; use `make <target>` so the image matches the tested build", dc.path, in.Line, in.Args)
					}
					for _, m := range regexp.MustCompile(`\bmake\s+([^&|;]+)`).FindAllStringSubmatch(in.Args, -1) {
						for _, tg := range strings.Fields(m[1]) {
							if strings.HasPrefix(tg, "-") || strings.Contains(tg, "=") {
								continue
							}
							if _, ok := targets[tg]; !ok {
								t.Errorf("%s:%d: `make %s`: the Makefile has no target %s", dc.path, in.Line, tg, tg)
							}
							made[tg] = true
						}
					}
				case "COPY":
					f := strings.Fields(in.Args)
					if len(f) == 3 && strings.HasPrefix(f[0], "--from=") {
						copied[f[2]] = f[1]
					}
				}
			}
			for target, dest := range dc.binaries {
				if !made[target] {
					t.Errorf("%s: no RUN builds %s with `make %s`", dc.path, target, target)
				}
				if src := copied[dest]; src != "/src/"+target {
					t.Errorf("%s: %s in the image comes from %q, want /src/%s (the make output)", dc.path, dest, src, target)
				}
			}
		})
	}
	// The k6 image is built by the Makefile's bin/k6 recipe; that recipe must
	// be the shared script, and the script the xk6 command users run.
	recipe := strings.Join(targets["bin/k6"], "\n")
	if !strings.Contains(recipe, "scripts/build-k6.sh") {
		t.Errorf("Makefile bin/k6 recipe %q does not run scripts/build-k6.sh", recipe)
	}
	script := string(readFile(t, "scripts/build-k6.sh"))
	mod := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindStringSubmatch(string(readFile(t, "xk6-massconn/go.mod")))
	if mod == nil || !strings.Contains(script, "--with "+mod[1]+"=") {
		t.Errorf("scripts/build-k6.sh does not build with the extension module %v", mod)
	}
}

func TestDockerfilesMatchGoAndTheServer(t *testing.T) {
	cli := loadServerCLI(t)
	for _, dc := range dockerfiles {
		t.Run(dc.path, func(t *testing.T) {
			ins := parseDockerfile(t, dc.path)
			args := map[string]string{}
			env := map[string]string{}
			var expose []string
			var entrypoint, cmd []string
			var copies []instruction
			for _, in := range ins {
				switch in.Cmd {
				case "ARG":
					k, v, _ := strings.Cut(in.Args, "=")
					args[k] = v
				case "ENV":
					k, v, _ := strings.Cut(in.Args, "=")
					env[k] = v
				case "EXPOSE":
					expose = append(expose, strings.Fields(in.Args)...)
				case "ENTRYPOINT":
					entrypoint = execForm(t, dc.path, in)
				case "CMD":
					cmd = execForm(t, dc.path, in)
				case "COPY":
					copies = append(copies, in)
				case "FROM":
					image := regexp.MustCompile(`\$\{(\w+)\}`).ReplaceAllStringFunc(strings.Fields(in.Args)[0], func(s string) string {
						return args[strings.Trim(s, "${}")]
					})
					if strings.HasPrefix(image, "golang:") {
						checkGoVersion(t, dc.path, image)
					}
				}
			}
			if len(entrypoint) == 0 {
				t.Fatalf("%s has no ENTRYPOINT", dc.path)
			}
			found := false
			for _, dest := range dc.binaries {
				if dest == entrypoint[0] || strings.HasSuffix(dest, "/"+entrypoint[0]) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: ENTRYPOINT %q is none of the binaries copied in (%v)", dc.path, entrypoint[0], dc.binaries)
			}
			switch dc.path {
			case "server/Dockerfile":
				if err := cli.checkArgs(cmd); err != nil {
					t.Errorf("%s: CMD %v: %v", dc.path, cmd, err)
				}
				for k := range env {
					if k != "CGO_ENABLED" && !cli.envVars("serve")[k] {
						t.Errorf("%s: ENV %s is not read by massconn-server serve", dc.path, k)
					}
				}
				_, port, _ := strings.Cut(env["LISTEN"], ":")
				if port == "" || len(expose) != 1 || expose[0] != port {
					t.Errorf("%s: EXPOSE %v does not match ENV LISTEN=%q", dc.path, expose, env["LISTEN"])
				}
				if strings.HasPrefix(env["LISTEN"], "127.") {
					t.Errorf("%s: LISTEN=%s is loopback: nothing outside the container could connect", dc.path, env["LISTEN"])
				}
			case "xk6-massconn/Dockerfile":
				checkK6Command(t, dc.path, cmd, copies)
			}
		})
	}
	ignore := string(readFile(t, ".dockerignore"))
	if !regexp.MustCompile(`(?m)^/?bin/?$`).MatchString(ignore) {
		t.Errorf(".dockerignore must exclude bin/: make would take host binaries as up to date and ship them")
	}
}

// checkGoVersion: the builder's Go must be at least every go.mod's go line.
func checkGoVersion(t *testing.T, path, image string) {
	t.Helper()
	tag := strings.TrimPrefix(image, "golang:")
	tag, _, _ = strings.Cut(tag, "-")
	have := versionParts(tag)
	for _, mod := range []string{"go.mod", "xk6-massconn/go.mod", "tools/go.mod"} {
		m := regexp.MustCompile(`(?m)^go\s+(\S+)`).FindStringSubmatch(string(readFile(t, mod)))
		if m == nil {
			continue
		}
		want := versionParts(m[1])
		if have[0] < want[0] || (have[0] == want[0] && have[1] < want[1]) {
			t.Errorf("%s: builder %s is older than %s's go %s", path, image, mod, m[1])
		}
	}
}

func versionParts(v string) [2]int {
	f := strings.Split(v, ".")
	var out [2]int
	for i := 0; i < 2 && i < len(f); i++ {
		out[i], _ = strconv.Atoi(f[i])
	}
	return out
}

// checkK6Command: the image's default command runs a script that exists in
// the repository and is copied into the image, with flags k6 knows.
func checkK6Command(t *testing.T, path string, cmd []string, copies []instruction) {
	t.Helper()
	if len(cmd) < 2 || cmd[0] != "run" {
		t.Fatalf("%s: CMD %v should be `run ... SCRIPT`", path, cmd)
	}
	flags := k6RunFlags(t)
	for _, a := range cmd[1 : len(cmd)-1] {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "--") && !flags[name] {
			t.Errorf("%s: CMD flag %s is not a `k6 run` flag", path, a)
		}
	}
	if _, err := imageScriptSource(copies, cmd[len(cmd)-1]); err != nil {
		t.Errorf("%s: CMD script: %v", path, err)
	}
}

// imageScriptSource maps a path inside the k6 image back to the repository
// file a COPY put there, and checks that file exists.
func imageScriptSource(copies []instruction, inImage string) (string, error) {
	for _, c := range copies {
		f := strings.Fields(c.Args)
		if len(f) != 2 || strings.HasPrefix(f[0], "--") {
			continue
		}
		src, dest := strings.TrimSuffix(f[0], "/"), strings.TrimSuffix(f[1], "/")
		if rest, ok := strings.CutPrefix(inImage, dest+"/"); ok {
			local := src + "/" + rest
			if _, err := os.Stat(filepath.Join(repoRoot, local)); err != nil {
				return "", fmt.Errorf("%s comes from %s, which does not exist: %w", inImage, local, err)
			}
			return local, nil
		}
	}
	return "", fmt.Errorf("no COPY puts anything at %s", inImage)
}
