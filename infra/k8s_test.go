package infra

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

type k8sObjects struct {
	byKind map[string]map[string]map[string]any // kind -> name -> object
}

func loadK8s(t *testing.T) k8sObjects {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "infra", "k8s", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in infra/k8s: %v", err)
	}
	o := k8sObjects{byKind: map[string]map[string]map[string]any{}}
	for _, f := range files {
		rel, _ := filepath.Rel(repoRoot, f)
		for _, doc := range yamlDocs(t, rel) {
			kind, name := str(doc["kind"]), str(get(doc, "metadata", "name"))
			if kind == "" || (name == "" && kind != "Kustomization") {
				t.Errorf("%s: a document without kind or metadata.name", rel)
				continue
			}
			if o.byKind[kind] == nil {
				o.byKind[kind] = map[string]map[string]any{}
			}
			o.byKind[kind][name] = doc
		}
	}
	return o
}

func (o k8sObjects) get(t *testing.T, kind, name string) map[string]any {
	t.Helper()
	obj, ok := o.byKind[kind][name]
	if !ok {
		t.Fatalf("infra/k8s has no %s %s", kind, name)
	}
	return obj
}

// containerEnv resolves a container's env, reading secretKeyRef values from
// the Secrets in the manifests.
func (o k8sObjects) containerEnv(t *testing.T, c any) map[string]string {
	t.Helper()
	env := map[string]string{}
	l, _ := get(c, "env").([]any)
	for _, e := range l {
		name := str(get(e, "name"))
		if ref := get(e, "valueFrom", "secretKeyRef"); ref != nil {
			sec := o.get(t, "Secret", str(get(ref, "name")))
			v := get(sec, "stringData", str(get(ref, "key")))
			if v == nil {
				t.Errorf("env %s refers to key %s missing from Secret %s", name, get(ref, "key"), get(ref, "name"))
			}
			env[name] = str(v)
			continue
		}
		env[name] = str(get(e, "value"))
	}
	return env
}

// serviceFor finds the Service that selects a Deployment's pods and checks
// it forwards to the container port.
func (o k8sObjects) serviceFor(t *testing.T, deployment string, containerPort string) map[string]any {
	t.Helper()
	dep := o.get(t, "Deployment", deployment)
	labels, _ := get(dep, "spec", "template", "metadata", "labels").(map[string]any)
	for _, svc := range o.byKind["Service"] {
		sel, _ := get(svc, "spec", "selector").(map[string]any)
		match := len(sel) > 0
		for k, v := range sel {
			if str(labels[k]) != str(v) {
				match = false
			}
		}
		if !match {
			continue
		}
		if tp := str(get(svc, "spec", "ports", 0, "targetPort")); tp != containerPort {
			t.Errorf("Service %s forwards to port %s, the container listens on %s", get(svc, "metadata", "name"), tp, containerPort)
		}
		return svc
	}
	t.Fatalf("no Service selects the pods of Deployment %s", deployment)
	return nil
}

func TestK8sManifestsMatchTheBinariesAndEachOther(t *testing.T) {
	cli := loadServerCLI(t)
	o := loadK8s(t)

	pgDep := o.get(t, "Deployment", "massconn-postgres")
	pgContainer := get(pgDep, "spec", "template", "spec", "containers", 0)
	if img := str(get(pgContainer, "image")); !strings.HasPrefix(img, "postgres:") {
		t.Errorf("postgres Deployment uses %q, want the official image", img)
	}
	pgSvc := o.serviceFor(t, "massconn-postgres", "5432")
	pgPassword := o.containerEnv(t, pgContainer)["POSTGRES_PASSWORD"]
	ns := str(get(pgDep, "metadata", "namespace"))

	var serverSvc map[string]any
	var serverPort string
	for _, name := range []string{"massconn-server", "massconn-insert"} {
		dep := o.get(t, "Deployment", name)
		c := get(dep, "spec", "template", "spec", "containers", 0)
		if img := str(get(c, "image")); img != serverImage {
			t.Errorf("%s: image %q, want %s (the compose/server Dockerfile image)", name, img, serverImage)
		}
		args := strList(get(c, "args"))
		if err := cli.checkArgs(args); err != nil {
			t.Errorf("%s: args %v: %v", name, args, err)
			continue
		}
		env := o.containerEnv(t, c)
		known := cli.envVars(args[0])
		for k := range env {
			if !known[k] {
				t.Errorf("%s: env %s is not read by massconn-server %s", name, k, args[0])
			}
		}
		db, err := url.Parse(env["DATABASE_URL"])
		if err != nil || db.Hostname() != str(get(pgSvc, "metadata", "name")) || db.Port() != str(get(pgSvc, "spec", "ports", 0, "port")) {
			t.Errorf("%s: DATABASE_URL %q does not point at the postgres Service", name, env["DATABASE_URL"])
		} else if p, _ := db.User.Password(); p != pgPassword {
			t.Errorf("%s: DATABASE_URL password differs from POSTGRES_PASSWORD", name)
		}
		if str(get(dep, "metadata", "namespace")) != ns {
			t.Errorf("%s is not in namespace %s with postgres", name, ns)
		}
		if args[0] != "serve" {
			continue
		}
		_, serverPort, _ = strings.Cut(env["LISTEN"], ":")
		if cp := str(get(c, "ports", 0, "containerPort")); cp != serverPort {
			t.Errorf("%s: containerPort %s, LISTEN %s", name, cp, env["LISTEN"])
		}
		if hp := str(get(c, "readinessProbe", "httpGet", "port")); hp != serverPort || str(get(c, "readinessProbe", "httpGet", "path")) != "/healthz" {
			t.Errorf("%s: readinessProbe should GET /healthz on %s", name, serverPort)
		}
		serverSvc = o.serviceFor(t, name, serverPort)
	}

	tr := o.get(t, "TestRun", "massconn-capacity")
	if str(tr["apiVersion"]) != "k6.io/v1alpha1" {
		t.Errorf("TestRun apiVersion %q, want k6.io/v1alpha1", tr["apiVersion"])
	}
	if p, _ := strconv.Atoi(str(get(tr, "spec", "parallelism"))); p < 2 {
		t.Errorf("TestRun parallelism %v: want several k6 pods", get(tr, "spec", "parallelism"))
	}
	if img := str(get(tr, "spec", "runner", "image")); img != k6Image {
		t.Errorf("TestRun runner.image %q, want the custom k6 image %s", img, k6Image)
	}
	var copies []instruction
	for _, in := range parseDockerfile(t, "xk6-massconn/Dockerfile") {
		if in.Cmd == "COPY" {
			copies = append(copies, in)
		}
	}
	script, err := imageScriptSource(copies, str(get(tr, "spec", "script", "localFile")))
	if err != nil || script != "k6scripts/capacity.js" {
		t.Fatalf("TestRun script.localFile should be capacity.js in the image: %s %v", script, err)
	}
	reads := scriptEnv(t, script)
	env := o.containerEnv(t, get(tr, "spec", "runner"))
	for k := range env {
		if !reads[k] {
			t.Errorf("TestRun env %s is not read by %s", k, script)
		}
	}
	for _, a := range strings.Fields(str(get(tr, "spec", "arguments"))) {
		if name := strings.TrimLeft(a, "-"); strings.HasPrefix(a, "--") && !k6RunFlags(t)[name] {
			t.Errorf("TestRun arguments: %s is not a `k6 run` flag", a)
		}
	}
	if reads["FLEET_PARTS"] && env["FLEET_PARTS"] != str(get(tr, "spec", "parallelism")) {
		t.Errorf("TestRun env FLEET_PARTS=%q must equal spec.parallelism %v: %s runs one VU per process", env["FLEET_PARTS"], get(tr, "spec", "parallelism"), script)
	}
	u, err := url.Parse(env["URLS"])
	wantHost := str(get(serverSvc, "metadata", "name")) + "." + ns + ".svc.cluster.local"
	if err != nil || u.Hostname() != wantHost || u.Port() != str(get(serverSvc, "spec", "ports", 0, "port")) || u.Path != "/ws" {
		t.Errorf("TestRun URLS %q should reach the server Service at %s:%s/ws", env["URLS"], wantHost, serverPort)
	}
	if str(get(tr, "metadata", "namespace")) != ns {
		t.Errorf("TestRun is not in namespace %s", ns)
	}
}

// kubectl renders the kustomization without a cluster: every listed file
// exists and parses as Kubernetes objects.
func TestK8sKustomizationRenders(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		if inCI() {
			t.Log("kubectl not installed; the YAML itself is checked by TestK8sManifestsMatchTheBinariesAndEachOther")
		}
		t.Skip("kubectl not installed")
	}
	cmd := exec.Command(kubectl, "kustomize", filepath.Join(repoRoot, "infra", "k8s"))
	cmd.Env = append(os.Environ(), "KUBECONFIG=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize infra/k8s: %v\n%s", err, out)
	}
	for _, kind := range []string{"kind: Namespace", "kind: Deployment", "kind: Service", "kind: Secret"} {
		if !strings.Contains(string(out), kind) {
			t.Errorf("rendered kustomization lacks %s", kind)
		}
	}
}
