// Package test renders the chart with each values file of ../ci and checks
// what comes out: every manifest decodes strictly into its real Kubernetes
// or Prometheus Operator type, the PrometheusRule is examples/alerts.yml and
// passes promtool, the exporter's config passes --config.check, and the pod
// runs least-privileged. A module of its own, so that the exporter's go.mod
// gains no Kubernetes dependency.
//
// Run it through `make chart-test`, which gives it HELM, PROMTOOL and
// EXPORTER (the built binary).
package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const (
	chartDir    = ".."
	kubeVersion = "1.32.0"
	release     = "lro"
	namespace   = "monitoring"
)

func tool(t *testing.T, env string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		t.Fatalf("%s is not set: run make chart-test", env)
	}
	return p
}

// rendered is one manifest of a helm template run, decoded.
type rendered struct {
	kind, name string
	obj        any
}

// newObject is the typed object for each kind the chart may render, and
// the apiVersion it must carry.
func newObject(apiVersion, kind string) (any, error) {
	want := map[string]string{
		"ConfigMap": "v1", "Service": "v1", "ServiceAccount": "v1", "PersistentVolumeClaim": "v1",
		"Deployment": "apps/v1", "StatefulSet": "apps/v1",
		"NetworkPolicy": "networking.k8s.io/v1", "PodDisruptionBudget": "policy/v1",
		"ServiceMonitor": "monitoring.coreos.com/v1", "PrometheusRule": "monitoring.coreos.com/v1",
	}[kind]
	if want == "" {
		return nil, fmt.Errorf("kind %s: not one the test knows; add it", kind)
	}
	if apiVersion != want {
		return nil, fmt.Errorf("%s: apiVersion %s, want %s", kind, apiVersion, want)
	}
	switch kind {
	case "ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "Service":
		return &corev1.Service{}, nil
	case "ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}, nil
	case "Deployment":
		return &appsv1.Deployment{}, nil
	case "StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, nil
	case "PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}, nil
	default:
		return &monitoringv1.PrometheusRule{}, nil
	}
}

// strict decodes YAML into v, failing on any field v's type lacks.
func strict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("more than one object in a document")
	}
	return nil
}

// render runs helm template with a values file and decodes every manifest.
func render(t *testing.T, values string, set ...string) []rendered {
	t.Helper()
	args := []string{"template", release, chartDir, "--namespace", namespace, "--kube-version", kubeVersion, "--values", values}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := exec.Command(tool(t, "HELM"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var objs []rendered
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(out), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")) == "" {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("%s: %v\n%s", values, err, doc)
		}
		obj, err := newObject(head.APIVersion, head.Kind)
		if err != nil {
			t.Fatalf("%s: %v", values, err)
		}
		if err := strict([]byte(doc), obj); err != nil {
			t.Fatalf("%s: %s %s does not decode strictly as %T: %v\n%s", values, head.Kind, head.Metadata.Name, obj, err, doc)
		}
		if head.Metadata.Namespace != namespace {
			t.Errorf("%s: %s %s is in namespace %q, want the release's", values, head.Kind, head.Metadata.Name, head.Metadata.Namespace)
		}
		objs = append(objs, rendered{head.Kind, head.Metadata.Name, obj})
	}
	return objs
}

func find[T any](objs []rendered) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func kinds(objs []rendered) string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.kind)
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

// podOf is the rendered workload's pod template and replica count.
func podOf(t *testing.T, objs []rendered) (*corev1.PodTemplateSpec, int32, string) {
	t.Helper()
	deps, sets := find[*appsv1.Deployment](objs), find[*appsv1.StatefulSet](objs)
	switch {
	case len(deps) == 1 && len(sets) == 0:
		return &deps[0].Spec.Template, *deps[0].Spec.Replicas, "Deployment"
	case len(sets) == 1 && len(deps) == 0:
		return &sets[0].Spec.Template, *sets[0].Spec.Replicas, "StatefulSet"
	}
	t.Fatalf("%d Deployments and %d StatefulSets, want one workload", len(deps), len(sets))
	return nil, 0, ""
}

// checkConfig runs the built exporter's --config.check on the rendered
// config, with the pod's mounts moved under a temporary directory: each
// secret volume's files (as the config names them) made up, the
// persistent volume empty, as before the first login.
func checkConfig(t *testing.T, objs []rendered, pod *corev1.PodTemplateSpec, env []string, args ...string) string {
	t.Helper()
	var cfg string
	for _, cm := range find[*corev1.ConfigMap](objs) {
		if c, ok := cm.Data["msgraph_lro.yml"]; ok {
			cfg = c
		}
	}
	if cfg == "" {
		t.Fatal("no ConfigMap holds msgraph_lro.yml")
	}
	dir := t.TempDir()
	secretVolumes := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil {
			secretVolumes[v.Name] = true
		}
	}
	c := pod.Spec.Containers[0]
	for i, m := range c.VolumeMounts {
		if m.SubPath != "" {
			continue // the config file itself
		}
		local := filepath.Join(dir, fmt.Sprintf("mount%d", i))
		if err := os.MkdirAll(local, 0o700); err != nil {
			t.Fatal(err)
		}
		prefix := strings.TrimSuffix(m.MountPath, "/") + "/"
		if secretVolumes[m.Name] {
			for _, f := range regexp.MustCompile(regexp.QuoteMeta(prefix)+`[^\s"']+`).FindAllString(cfg, -1) {
				p := filepath.Join(local, strings.TrimPrefix(f, prefix))
				body := "made-up secret\n"
				if strings.HasSuffix(p, ".pem") {
					body = testPEM(t)
				}
				if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		cfg = strings.ReplaceAll(cfg, prefix, local+"/")
	}
	file := filepath.Join(dir, "msgraph_lro.yml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tool(t, "EXPORTER"), append([]string{"--config.check", "--config.file=" + file}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("--config.check of the rendered config: %v\n%s\n%s", err, out, cfg)
	}
	return string(out)
}

// testPEM is a self-signed certificate and its RSA key, made by openssl.
func testPEM(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	key, crt := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem")
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=chart-test",
		"-keyout", key, "-out", crt).CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	k, _ := os.ReadFile(key)
	c, _ := os.ReadFile(crt)
	return string(c) + string(k)
}

// The default pod and container security contexts are README's.
func checkSecurity(t *testing.T, pod *corev1.PodTemplateSpec) {
	t.Helper()
	ps := pod.Spec.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 ||
		ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want runAsNonRoot, a non-zero runAsUser and seccomp RuntimeDefault", ps)
	}
	for _, c := range pod.Spec.Containers {
		s := c.SecurityContext
		if s == nil || s.RunAsNonRoot == nil || !*s.RunAsNonRoot || s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem ||
			s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation || s.Privileged != nil && *s.Privileged ||
			s.Capabilities == nil || !reflect.DeepEqual(s.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(s.Capabilities.Add) != 0 ||
			s.SeccompProfile == nil || s.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("container %s securityContext %+v: want non-root, read-only root, no privilege escalation, capabilities drop ALL, seccomp RuntimeDefault", c.Name, s)
		}
		for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
			if p == nil || p.HTTPGet == nil {
				t.Errorf("container %s lacks an HTTP probe", c.Name)
			}
		}
		if c.LivenessProbe.HTTPGet.Path != "/-/healthy" || c.ReadinessProbe.HTTPGet.Path != "/-/ready" {
			t.Errorf("probes on %s and %s, want /-/healthy and /-/ready", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
		}
	}
	if pod.Annotations["checksum/config"] == "" {
		t.Error("the pod has no checksum/config annotation: a config change would not roll it")
	}
}

func TestMinimalWithSecret(t *testing.T) {
	objs := render(t, "../ci/minimal-values.yaml")
	if got, want := kinds(objs), "ConfigMap Deployment PodDisruptionBudget Service ServiceAccount"; got != want {
		t.Errorf("kinds %s, want %s", got, want)
	}
	pod, replicas, _ := podOf(t, objs)
	if replicas != 1 {
		t.Errorf("%d replicas, want 1", replicas)
	}
	checkSecurity(t, pod)
	var secret *corev1.SecretVolumeSource
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil {
			secret = v.Secret
		}
	}
	if secret == nil || secret.SecretName != "msgraph-lro" {
		t.Errorf("the existing Secret is not mounted: %+v", pod.Spec.Volumes)
	}
	if pod.Labels["azure.workload.identity/use"] != "" {
		t.Error("workload identity's pod label without workloadIdentity.enabled")
	}
	for _, a := range pod.Spec.Containers[0].Args {
		if strings.HasPrefix(a, "--shard") || strings.HasPrefix(a, "--total-shards") {
			t.Errorf("one replica with %s", a)
		}
	}
	out := checkConfig(t, objs, pod, nil)
	if !strings.Contains(out, "OK: 1 tenants, 1 operations") {
		t.Errorf("--config.check: %s", out)
	}
	// Nothing the chart renders holds a secret: there is no Secret kind.
	for _, o := range objs {
		if o.kind == "Secret" {
			t.Errorf("the chart renders a Secret %s", o.name)
		}
	}
}

func TestWorkloadIdentity(t *testing.T) {
	objs := render(t, "../ci/workload-identity-values.yaml")
	if got, want := kinds(objs), "ConfigMap ConfigMap Deployment NetworkPolicy PodDisruptionBudget PrometheusRule Service ServiceAccount ServiceMonitor"; got != want {
		t.Errorf("kinds %s, want %s", got, want)
	}
	pod, _, _ := podOf(t, objs)
	checkSecurity(t, pod)
	if pod.Labels["azure.workload.identity/use"] != "true" {
		t.Errorf("pod labels %v lack azure.workload.identity/use: \"true\"", pod.Labels)
	}
	sas := find[*corev1.ServiceAccount](objs)
	if len(sas) != 1 || sas[0].Annotations["azure.workload.identity/client-id"] != "11111111-1111-1111-1111-111111111111" {
		t.Errorf("service account %+v lacks azure.workload.identity/client-id", sas)
	}
	if pod.Spec.ServiceAccountName != sas[0].Name {
		t.Errorf("the pod runs as %q, not the service account %q", pod.Spec.ServiceAccountName, sas[0].Name)
	}
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil {
			t.Errorf("workload identity mounts a Secret: %+v", v)
		}
	}
	// What the webhook injects makes the config whole.
	tok := filepath.Join(t.TempDir(), "azure-identity-token")
	if err := os.WriteFile(tok, []byte("eyJhbGciOi.made-up.token"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := checkConfig(t, objs, pod, []string{"AZURE_FEDERATED_TOKEN_FILE=" + tok,
		"AZURE_TENANT_ID=00000000-0000-0000-0000-000000000000", "AZURE_CLIENT_ID=11111111-1111-1111-1111-111111111111"})
	if !strings.Contains(out, "OK: 1 tenants, 0 operations, 2 discovery jobs") {
		t.Errorf("--config.check: %s", out)
	}

	// The ServiceMonitor scrapes the Service's port with the job the alerts select.
	sm := find[*monitoringv1.ServiceMonitor](objs)[0]
	svc := find[*corev1.Service](objs)[0]
	ep := sm.Spec.Endpoints[0]
	if ep.Port != svc.Spec.Ports[0].Name || !reflect.DeepEqual(sm.Spec.Selector.MatchLabels, svc.Spec.Selector) {
		t.Errorf("ServiceMonitor %+v does not select the Service %+v", sm.Spec, svc.Spec)
	}
	if len(ep.RelabelConfigs) == 0 || ep.RelabelConfigs[0].TargetLabel != "job" || ep.RelabelConfigs[0].Replacement == nil || *ep.RelabelConfigs[0].Replacement != "msgraph_lro" {
		t.Errorf("ServiceMonitor relabelings %+v do not set job=msgraph_lro", ep.RelabelConfigs)
	}
	if sm.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor labels %v lack additionalLabels", sm.Labels)
	}

	// The PrometheusRule is examples/alerts.yml, and promtool accepts it.
	rule := find[*monitoringv1.PrometheusRule](objs)[0]
	example, err := os.ReadFile("../../../examples/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var want monitoringv1.PrometheusRuleSpec
	if err := strict(example, &want); err != nil {
		t.Fatalf("examples/alerts.yml as a PrometheusRule spec: %v", err)
	}
	if !reflect.DeepEqual(rule.Spec, want) {
		t.Error("the PrometheusRule's rules differ from examples/alerts.yml: run make chart")
	}
	n := 0
	for _, g := range rule.Spec.Groups {
		n += len(g.Rules)
	}
	if n == 0 {
		t.Error("the PrometheusRule holds no rule")
	}
	spec, err := yaml.Marshal(rule.Spec)
	if err != nil {
		t.Fatal(err)
	}
	rf := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(rf, spec, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool(t, "PROMTOOL"), "check", "rules", rf).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules on the rendered PrometheusRule: %v\n%s", err, out)
	}

	// The dashboard, for the sidecar, is examples/grafana-dashboard.json.
	var dash *corev1.ConfigMap
	for _, cm := range find[*corev1.ConfigMap](objs) {
		if cm.Labels["grafana_dashboard"] == "1" {
			dash = cm
		}
	}
	board, err := os.ReadFile("../../../examples/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if dash == nil || strings.TrimRight(dash.Data["msgraph-lro.json"], "\n") != strings.TrimRight(string(board), "\n") {
		t.Error("no dashboard ConfigMap with the grafana_dashboard label holds examples/grafana-dashboard.json")
	} else if !json.Valid([]byte(dash.Data["msgraph-lro.json"])) {
		t.Error("the dashboard is not JSON")
	}

	// Egress: 443 and DNS, nothing else.
	np := find[*networkingv1.NetworkPolicy](objs)[0]
	var ports []string
	for _, e := range np.Spec.Egress {
		if len(e.To) != 0 {
			t.Errorf("egress rule limited to peers %+v", e.To)
		}
		for _, p := range e.Ports {
			ports = append(ports, fmt.Sprintf("%s/%s", p.Port.String(), *p.Protocol))
		}
	}
	sort.Strings(ports)
	if got := strings.Join(ports, " "); got != "443/TCP 53/TCP 53/UDP" {
		t.Errorf("egress ports %s, want 443/TCP and DNS", got)
	}
	if len(np.Spec.PolicyTypes) != 2 {
		t.Errorf("policy types %v, want Ingress and Egress", np.Spec.PolicyTypes)
	}
}

func TestThreeShards(t *testing.T) {
	objs := render(t, "../ci/shards-values.yaml")
	pod, replicas, kind := podOf(t, objs)
	if kind != "StatefulSet" || replicas != 3 {
		t.Fatalf("%s of %d, want a StatefulSet of 3", kind, replicas)
	}
	checkSecurity(t, pod)
	c := pod.Spec.Containers[0]
	args := strings.Join(c.Args, " ")
	if !strings.Contains(args, "--shard=$(SHARD)") || !strings.Contains(args, "--total-shards=3") {
		t.Errorf("args %s, want --shard=$(SHARD) --total-shards=3", args)
	}
	var fromIndex bool
	for _, e := range c.Env {
		fromIndex = fromIndex || e.Name == "SHARD" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil &&
			e.ValueFrom.FieldRef.FieldPath == "metadata.labels['apps.kubernetes.io/pod-index']"
	}
	if !fromIndex {
		t.Errorf("SHARD does not come from the pod index: %+v", c.Env)
	}
	set := find[*appsv1.StatefulSet](objs)[0]
	if set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy %q, want Parallel", set.Spec.PodManagementPolicy)
	}
	// Each shard's flags, as Kubernetes expands them, pass --config.check
	// with the rendered config and what the webhook injects.
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("x.y.z"), 0o600); err != nil {
		t.Fatal(err)
	}
	wi := []string{"AZURE_FEDERATED_TOKEN_FILE=" + tok, "AZURE_TENANT_ID=00000000-0000-0000-0000-000000000000", "AZURE_CLIENT_ID=11111111-1111-1111-1111-111111111111"}
	for i := range 3 {
		var flags []string
		for _, a := range c.Args {
			if strings.HasPrefix(a, "--shard") || strings.HasPrefix(a, "--total-shards") {
				flags = append(flags, strings.ReplaceAll(a, "$(SHARD)", fmt.Sprint(i)))
			}
		}
		if out := checkConfig(t, objs, pod, wi, flags...); !strings.Contains(out, "OK: 2 tenants, 0 operations, 2 discovery jobs") {
			t.Errorf("shard %d, %v: --config.check: %s", i, flags, out)
		}
	}
	// One more than the shards is refused.
	out, _ := exec.Command(tool(t, "EXPORTER"), "--config.check", "--shard=3", "--total-shards=3").CombinedOutput()
	if !strings.Contains(string(out), "--shard=3: must be") {
		t.Errorf("--shard=3 --total-shards=3: %s", out)
	}
}

func TestDelegatedWithVolume(t *testing.T) {
	objs := render(t, "../ci/delegated-values.yaml")
	if got, want := kinds(objs), "ConfigMap Deployment PersistentVolumeClaim PodDisruptionBudget Service ServiceAccount"; got != want {
		t.Errorf("kinds %s, want %s", got, want)
	}
	pod, _, _ := podOf(t, objs)
	checkSecurity(t, pod)
	dep := find[*appsv1.Deployment](objs)[0]
	if dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %q with a ReadWriteOnce claim, want Recreate", dep.Spec.Strategy.Type)
	}
	pvc := find[*corev1.PersistentVolumeClaim](objs)[0]
	var mounted bool
	for _, v := range pod.Spec.Volumes {
		mounted = mounted || v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == pvc.Name
	}
	if !mounted {
		t.Errorf("the claim %s is not mounted", pvc.Name)
	}
	var writable bool
	for _, m := range pod.Spec.Containers[0].VolumeMounts {
		writable = writable || m.MountPath == "/var/lib/msgraph_lro" && !m.ReadOnly
	}
	if !writable {
		t.Error("the token cache's directory is not mounted writable")
	}
	if g := pod.Spec.SecurityContext.FSGroup; g == nil || *g != *pod.Spec.SecurityContext.RunAsUser {
		t.Errorf("fsGroup %v: the non-root user cannot write the volume", g)
	}
	out := checkConfig(t, objs, pod, nil)
	// No login has run yet: the exporter says so and names the command.
	if !strings.Contains(out, "OK: 1 tenants, 1 operations") || !strings.Contains(out, "login") {
		t.Errorf("--config.check: %s", out)
	}

	// Three shards with the sign-in: a claim per shard.
	objs = render(t, "../ci/delegated-values.yaml", "shards=3")
	set := find[*appsv1.StatefulSet](objs)
	if len(set) != 1 || len(set[0].Spec.VolumeClaimTemplates) != 1 || len(find[*corev1.PersistentVolumeClaim](objs)) != 0 {
		t.Errorf("three shards with persistence: want one volumeClaimTemplate and no shared claim; kinds %s", kinds(objs))
	}
}

// README's values-contoso.yaml, the workload identity install, renders
// and its configuration passes --config.check as the webhook leaves it.
func TestReadmeValues(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(# values-contoso.yaml\n.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no values-contoso.yaml block")
	}
	values := filepath.Join(t.TempDir(), "values-contoso.yaml")
	if err := os.WriteFile(values, m[1], 0o600); err != nil {
		t.Fatal(err)
	}
	objs := render(t, values)
	pod, _, _ := podOf(t, objs)
	checkSecurity(t, pod)
	if pod.Labels["azure.workload.identity/use"] != "true" || pod.Spec.ServiceAccountName != release+"-msgraph-lro-exporter" {
		t.Errorf("pod labels %v, service account %s", pod.Labels, pod.Spec.ServiceAccountName)
	}
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("x.y.z"), 0o600); err != nil {
		t.Fatal(err)
	}
	checkConfig(t, objs, pod, []string{"AZURE_FEDERATED_TOKEN_FILE=" + tok, "AZURE_TENANT_ID=00000000-0000-0000-0000-000000000000", "AZURE_CLIENT_ID=11111111-1111-1111-1111-111111111111"})
	// README's subject names the service account the release
	// msgraph-lro-exporter gets.
	out, err := exec.Command(tool(t, "HELM"), "template", "msgraph-lro-exporter", chartDir, "--kube-version", kubeVersion, "--values", values,
		"--show-only", "templates/serviceaccount.yaml").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "\n  name: msgraph-lro-exporter\n") ||
		!strings.Contains(string(readme), "system:serviceaccount:monitoring:msgraph-lro-exporter") {
		t.Errorf("the release msgraph-lro-exporter's service account is not README's: %v\n%s", err, out)
	}
}
