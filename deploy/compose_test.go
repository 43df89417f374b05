// Package deploy_test checks the production deployment files at the repository's root
// (docker-compose.yml, Dockerfile, .env.example) and the files the stack mounts from
// deploy/. It loads the compose file the way `docker compose` does (compose-go, with
// .env.example standing in for the user's .env), offline: no Docker engine, no network.
package deploy_test

import (
	"context"
	"go/parser"
	"go/token"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/server/common/dynamicconfig"

	"tandem/workflows"
)

// root is the repository's root, seen from this package's directory (go test's working
// directory).
const root = ".."

// The stack's services: the long-running ones must stay healthy, the one-shots must exit 0.
var (
	longRunning = []string{"postgresql", "temporal", "temporal-ui", "tandem-worker", "tandem-ingress"}
	oneShots    = []string{"temporal-schema", "temporal-setup", "tandem-start"}
	// tandemServices run Tandem's own images, built from the Dockerfile.
	tandemServices = []string{"tandem-worker", "tandem-ingress", "tandem-start"}
)

func loadProject(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		// The committed example stands in for the user's .env in the ${VAR} interpolation...
		cli.WithEnvFiles(filepath.Join(root, ".env.example")),
		cli.WithDotEnv,
		// ...while the services' env_file (.env) is each user's own and not in the repository.
		cli.WithoutEnvironmentResolution,
	)
	require.NoError(t, err)
	p, err := opts.LoadProject(context.Background())
	require.NoError(t, err, "docker-compose.yml does not load")
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	require.True(t, ok, "service %s is missing", name)
	return s
}

func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	require.NoError(t, err)
	return string(b)
}

// goModVersion is the version go.mod requires of a module.
func goModVersion(t *testing.T, module string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(module) + `\s+v(\S+)`).FindStringSubmatch(readFile(t, "go.mod"))
	require.NotNil(t, m, "go.mod does not require %s", module)
	return m[1]
}

func TestServicesPresent(t *testing.T) {
	p := loadProject(t)
	want := slices.Concat(longRunning, oneShots)
	slices.Sort(want)
	got := p.ServiceNames()
	slices.Sort(got)
	assert.Equal(t, want, got)
	assert.Empty(t, p.DisabledServices, "no service may hide behind a profile")
}

// pinnedTag: at least major.minor, so a pull never moves to another release line.
var pinnedTag = regexp.MustCompile(`^v?\d+\.\d+`)

func TestImagesPinnedOrBuilt(t *testing.T) {
	p := loadProject(t)
	dockerfile := parseDockerfile(t, readFile(t, "Dockerfile"))
	for _, name := range p.ServiceNames() {
		t.Run(name, func(t *testing.T) {
			s := service(t, p, name)
			if s.Build != nil {
				assert.Contains(t, tandemServices, name, "only Tandem's services are built here")
				assert.Equal(t, mustAbs(t, root), s.Build.Context)
				assert.Equal(t, "Dockerfile", filepath.Base(s.Build.Dockerfile))
				assert.Contains(t, dockerfile.names(), s.Build.Target, "build target is not a Dockerfile stage")
				assert.Empty(t, s.Image, "a built service carries no registry image to pull instead")
				return
			}
			assertPinned(t, s.Image)
		})
	}

	// Versions that must move together: admin-tools writes the schema the server reads, and
	// the images match the modules `worker --dev` embeds.
	server := goModVersion(t, "go.temporal.io/server")
	ui := goModVersion(t, "github.com/temporalio/ui-server/v2")
	for svc, image := range map[string]string{
		"temporal":        "temporalio/server:" + server,
		"temporal-schema": "temporalio/admin-tools:" + server,
		"temporal-setup":  "temporalio/admin-tools:" + server,
		"temporal-ui":     "temporalio/ui:" + ui,
	} {
		assert.Equal(t, image, service(t, p, svc).Image, svc)
	}
	assert.True(t, strings.HasPrefix(service(t, p, "postgresql").Image, "postgres:"))
}

// assertPinned: the image has a digest, or a tag that names a release (major.minor at least).
func assertPinned(t *testing.T, image string) {
	t.Helper()
	assertTagged(t, image, pinnedTag)
}

// assertTagged: the image has a digest, or a tag other than latest that matches tagPattern.
func assertTagged(t *testing.T, image string, tagPattern *regexp.Regexp) {
	t.Helper()
	require.NotEmpty(t, image, "neither image nor build")
	ref, err := reference.ParseNormalizedNamed(image)
	require.NoError(t, err, image)
	if d, ok := ref.(reference.Digested); ok {
		assert.NoError(t, d.Digest().Validate(), image)
		return
	}
	tagged, ok := ref.(reference.Tagged)
	require.True(t, ok, "image %s has no tag or digest (it would mean :latest)", image)
	assert.NotEqual(t, "latest", tagged.Tag(), image)
	assert.Regexp(t, tagPattern, tagged.Tag(), "image %s: pin a release, not a floating tag", image)
}

func TestHealthChecksAndRestarts(t *testing.T) {
	p := loadProject(t)
	for _, name := range longRunning {
		t.Run(name, func(t *testing.T) {
			s := service(t, p, name)
			assert.Equal(t, "unless-stopped", s.Restart)
			require.NotNil(t, s.HealthCheck, "a long-running service needs a health check")
			assert.False(t, s.HealthCheck.Disable)
			require.NotEmpty(t, s.HealthCheck.Test)
			assert.Contains(t, []string{"CMD", "CMD-SHELL"}, s.HealthCheck.Test[0])
			assert.Greater(t, len(s.HealthCheck.Test), 1)
			for _, d := range []*types.Duration{s.HealthCheck.Interval, s.HealthCheck.Timeout, s.HealthCheck.StartPeriod} {
				assert.NotNil(t, d, "set interval, timeout and start_period")
			}
			assert.NotNil(t, s.HealthCheck.Retries)
		})
	}
	for _, name := range oneShots {
		t.Run(name, func(t *testing.T) {
			s := service(t, p, name)
			// Run to completion: retried a few times on failure, never restarted after success.
			assert.Regexp(t, `^on-failure(:\d+)?$`, s.Restart)
			assert.Nil(t, s.HealthCheck)
			assert.Empty(t, s.Ports)
		})
	}
}

// Tandem's probes: the ingress answers GET /healthz; the worker serves /metrics on :9090.
func TestTandemHealthChecksProbeTheirEndpoints(t *testing.T) {
	p := loadProject(t)
	for _, tc := range []struct{ service, url, listenFlag string }{
		{"tandem-ingress", "http://127.0.0.1:8080/healthz", "--listen"},
		{"tandem-worker", "http://127.0.0.1:9090/metrics", "--metrics"},
	} {
		t.Run(tc.service, func(t *testing.T) {
			s := service(t, p, tc.service)
			assert.Equal(t, types.HealthCheckTest{"CMD", "/usr/local/bin/healthcheck", tc.url}, s.HealthCheck.Test)
			// The probed port is the one the command listens on, on every interface.
			i := slices.Index(s.Command, tc.listenFlag)
			require.GreaterOrEqual(t, i, 0, "command %v lacks %s", s.Command, tc.listenFlag)
			require.Less(t, i+1, len(s.Command))
			_, port, err := net.SplitHostPort(s.Command[i+1])
			require.NoError(t, err)
			assert.Equal(t, "0.0.0.0:"+port, s.Command[i+1])
			assert.Contains(t, tc.url, ":"+port+"/")
		})
	}
}

func TestStartupOrder(t *testing.T) {
	p := loadProject(t)
	const healthy, completed = types.ServiceConditionHealthy, types.ServiceConditionCompletedSuccessfully
	for _, tc := range []struct{ service, dependsOn, condition string }{
		{"temporal-schema", "postgresql", healthy},
		{"temporal", "postgresql", healthy},
		{"temporal", "temporal-schema", completed}, // the schema exists before the server starts
		{"temporal-setup", "temporal", healthy},
		{"temporal-ui", "temporal", healthy},
		{"tandem-worker", "temporal-setup", completed}, // namespace and TandemSync exist
		{"tandem-ingress", "temporal-setup", completed},
		{"tandem-start", "temporal-setup", completed},
	} {
		t.Run(tc.service+"->"+tc.dependsOn, func(t *testing.T) {
			dep, ok := service(t, p, tc.service).DependsOn[tc.dependsOn]
			require.True(t, ok, "%s does not depend on %s", tc.service, tc.dependsOn)
			assert.Equal(t, tc.condition, dep.Condition)
			assert.True(t, dep.Required)
		})
	}
	// Every dependency carries a condition: a bare "started" would race the database.
	for _, name := range p.ServiceNames() {
		for dep, d := range service(t, p, name).DependsOn {
			assert.Contains(t, []string{healthy, completed}, d.Condition, "%s -> %s", name, dep)
		}
	}
}

func TestOnlyTheIngressIsExposed(t *testing.T) {
	p := loadProject(t)
	for _, name := range p.ServiceNames() {
		s := service(t, p, name)
		assert.Empty(t, s.NetworkMode, "%s: network_mode would bypass the project's network", name)
		if name != "tandem-ingress" {
			assert.Empty(t, s.Ports, "%s publishes a port; only tandem-ingress may", name)
		}
	}
	ports := service(t, p, "tandem-ingress").Ports
	require.Len(t, ports, 1)
	assert.Equal(t, uint32(8080), ports[0].Target)
	assert.Equal(t, "8080", ports[0].Published) // TANDEM_INGRESS_PORT of .env.example
}

func TestTandemServicesReachTemporal(t *testing.T) {
	p := loadProject(t)
	for _, name := range slices.Concat(tandemServices, []string{"temporal-setup", "temporal-ui"}) {
		t.Run(name, func(t *testing.T) {
			s := service(t, p, name)
			addr := s.Environment["TEMPORAL_ADDRESS"]
			require.NotNil(t, addr, "TEMPORAL_ADDRESS is not set")
			host, port, err := net.SplitHostPort(*addr)
			require.NoError(t, err)
			assert.Equal(t, "temporal", host, "TEMPORAL_ADDRESS must name the temporal service")
			assert.Equal(t, "7233", port)
			_, isService := p.Services[host]
			assert.True(t, isService)
		})
	}
	for _, name := range tandemServices {
		t.Run(name+" environment", func(t *testing.T) {
			s := service(t, p, name)
			ns := s.Environment["TEMPORAL_NAMESPACE"]
			require.NotNil(t, ns)
			assert.Equal(t, "default", *ns)
			// Secrets arrive through the user's .env, never through this file.
			require.Len(t, s.EnvFiles, 1)
			assert.Equal(t, ".env", filepath.Base(s.EnvFiles[0].Path))
			// The sync definitions: mounted read-only from ./syncs.yaml, never created empty.
			var mount *types.ServiceVolumeConfig
			for i := range s.Volumes {
				if s.Volumes[i].Target == "/etc/tandem/syncs.yaml" {
					mount = &s.Volumes[i]
				}
			}
			require.NotNil(t, mount, "syncs.yaml is not mounted")
			assert.Equal(t, types.VolumeTypeBind, mount.Type)
			assert.Equal(t, filepath.Join(mustAbs(t, root), "syncs.yaml"), mount.Source)
			assert.True(t, mount.ReadOnly)
			require.NotNil(t, mount.Bind)
			assert.False(t, bool(mount.Bind.CreateHostPath), "a missing syncs.yaml must fail, not become a directory")
			i := slices.Index(s.Command, "--config")
			require.GreaterOrEqual(t, i, 0)
			assert.Equal(t, "/etc/tandem/syncs.yaml", s.Command[i+1])
			// Least privilege for the services that hold third-party tokens.
			assert.True(t, s.ReadOnly, "read-only root filesystem")
			assert.Equal(t, []string{"ALL"}, s.CapDrop)
			assert.Contains(t, s.SecurityOpt, "no-new-privileges:true")
		})
	}
}

// The worker keeps two-way links in the stack's PostgreSQL: its root filesystem is
// read-only, so the default SQLite file could not be written.
func TestWorkerKeepsLinksInPostgres(t *testing.T) {
	s := service(t, loadProject(t), "tandem-worker")
	dsn := s.Environment["TANDEM_LINKS_DSN"]
	require.NotNil(t, dsn, "TANDEM_LINKS_DSN is not set")
	assert.Contains(t, *dsn, "host=postgresql ")
	assert.NotContains(t, *dsn, "${", "variables are interpolated")
}

func TestDatabaseVolume(t *testing.T) {
	p := loadProject(t)
	_, ok := p.Volumes["postgresql-data"]
	require.True(t, ok, "named volume postgresql-data is not declared")
	var found bool
	for _, v := range service(t, p, "postgresql").Volumes {
		if v.Target == "/var/lib/postgresql/data" {
			found = true
			assert.Equal(t, types.VolumeTypeVolume, v.Type, "the database lives in a named volume")
			assert.Equal(t, "postgresql-data", v.Source)
		}
	}
	assert.True(t, found, "postgresql does not keep its data in the volume")
}

// The password reaches PostgreSQL, the schema job and the server from the env file alone.
func TestDatabasePasswordComesFromEnvFile(t *testing.T) {
	p := loadProject(t)
	example := envExample(t)
	want := example["POSTGRES_PASSWORD"]
	require.NotEmpty(t, want)
	for svc, key := range map[string]string{
		"postgresql":      "POSTGRES_PASSWORD",
		"temporal-schema": "SQL_PASSWORD",
		"temporal":        "POSTGRES_PWD",
	} {
		v := service(t, p, svc).Environment[key]
		require.NotNil(t, v, "%s: %s", svc, key)
		assert.Equal(t, want, *v, "%s: %s", svc, key)
	}
}

// secretKey names a setting that holds a secret.
var secretKey = regexp.MustCompile(`(?i)(password|passwd|pwd|secret|token|key|credential)`)

// setting is a YAML mapping entry (KEY: value) or a list-form variable (- KEY=value).
var setting = regexp.MustCompile(`^\s*(?:-\s*)?["']?([A-Za-z0-9_.-]+)["']?\s*(?::\s|=|:$)(.*)$`)

// reference is a value that is one ${VAR} reference, with no fallback value (a ${VAR:-x}
// default would put the secret back into the file). ${VAR:?message} is fine.
var secretReference = regexp.MustCompile(`^["']?\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*)?\}["']?$`)

// literalSecrets lists the lines of a compose file that assign a literal value to a
// secret-looking key.
func literalSecrets(yaml string) []string {
	var bad []string
	for _, line := range strings.Split(yaml, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		m := setting.FindStringSubmatch(line)
		if m == nil || !secretKey.MatchString(m[1]) {
			continue
		}
		value := strings.TrimSpace(m[2])
		if i := strings.Index(value, " #"); i >= 0 {
			value = strings.TrimSpace(value[:i])
		}
		if value == "" || secretReference.MatchString(value) {
			continue
		}
		bad = append(bad, strings.TrimSpace(line))
	}
	return bad
}

func TestNoSecretValuesInComposeFile(t *testing.T) {
	assert.Empty(t, literalSecrets(readFile(t, "docker-compose.yml")),
		"write secrets as ${VAR} references resolved from .env")
}

func TestSecretScannerCatchesLiterals(t *testing.T) {
	for _, tc := range []struct {
		line string
		bad  bool
	}{
		{`      POSTGRES_PASSWORD: hunter2`, true},
		{`      - POSTGRES_PWD=temporal`, true},
		{`      HUBSPOT_TOKEN: "pat-na1-1234"`, true},
		{`      AWS_SECRET_ACCESS_KEY: ${AWS_SECRET_ACCESS_KEY:-abc123}`, true},
		{`      webhook_secret: s3cr3t # rotate me`, true},
		{`      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}`, false},
		{`      POSTGRES_PWD: ${POSTGRES_PASSWORD:?set it in .env}`, false},
		{`      - SQL_PASSWORD=${POSTGRES_PASSWORD}`, false},
		{`      # POSTGRES_PASSWORD: a comment is not a setting`, false},
		{`      POSTGRES_USER: temporal`, false},
	} {
		assert.Equal(t, tc.bad, len(literalSecrets(tc.line)) == 1, tc.line)
	}
}

// envExample reads .env.example: KEY=value lines.
func envExample(t *testing.T) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, line := range strings.Split(readFile(t, ".env.example"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, ".env.example: %q is not KEY=value", line)
		vars[k] = v
	}
	return vars
}

func TestEnvExampleListsEveryVariable(t *testing.T) {
	example := envExample(t)
	var compose []string // docker-compose.yml without its comments
	for _, line := range strings.Split(readFile(t, "docker-compose.yml"), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			compose = append(compose, line)
		}
	}
	refs := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(strings.Join(compose, "\n"), -1)
	require.NotEmpty(t, refs)
	for _, m := range refs {
		assert.Contains(t, example, m[1], "docker-compose.yml uses ${%s}; list it in .env.example", m[1])
	}
	// Placeholders only: a real credential must never be committed, even as an example.
	for k, v := range example {
		if secretKey.MatchString(k) {
			assert.True(t, strings.HasPrefix(v, "replace-with-"), ".env.example: %s must hold a replace-with-... placeholder", k)
		}
	}
}

func TestEnvFileIsNeverCommittedOrBuilt(t *testing.T) {
	for _, file := range []string{".gitignore", ".dockerignore"} {
		lines := strings.Split(readFile(t, file), "\n")
		assert.Contains(t, lines, ".env", "%s must list .env", file)
	}
	assert.Contains(t, strings.Split(readFile(t, ".dockerignore"), "\n"), ".git")
}

// The files the stack mounts from the repository exist, and the one-shots' scripts parse.
func TestMountedFilesExist(t *testing.T) {
	p := loadProject(t)
	repo := mustAbs(t, root)
	for _, name := range p.ServiceNames() {
		s := service(t, p, name)
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind || v.Source == filepath.Join(repo, "syncs.yaml") {
				continue // syncs.yaml is the user's own file
			}
			assert.True(t, strings.HasPrefix(v.Source, filepath.Join(repo, "deploy")+string(filepath.Separator)),
				"%s mounts %s: keep mounted files under deploy/", name, v.Source)
			_, err := os.Stat(v.Source)
			assert.NoError(t, err, "%s mounts %s", name, v.Source)
			assert.True(t, v.ReadOnly, "%s mounts %s writable", name, v.Source)
		}
		// A script run from a mount must exist on the host side of it.
		for _, arg := range s.Command {
			if !strings.HasSuffix(arg, ".sh") {
				continue
			}
			host := hostPath(s, arg)
			require.NotEmpty(t, host, "%s runs %s, which is on no mount", name, arg)
			_, err := os.Stat(host)
			require.NoError(t, err)
			if sh, err := exec.LookPath("sh"); err == nil {
				out, err := exec.Command(sh, "-n", host).CombinedOutput()
				assert.NoError(t, err, "sh -n %s: %s", host, out)
			}
		}
	}
}

// hostPath maps a path inside a service's container to the bind-mounted host file.
func hostPath(s types.ServiceConfig, inContainer string) string {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && strings.HasPrefix(inContainer, v.Target+"/") {
			return filepath.Join(v.Source, strings.TrimPrefix(inContainer, v.Target+"/"))
		}
	}
	return ""
}

// The server refuses to start without its dynamic config file; this one must load without a
// warning by the server's own loader (unknown keys and bad values are warnings there).
func TestDynamicConfigLoadsCleanly(t *testing.T) {
	p := loadProject(t)
	s := service(t, p, "temporal")
	path := s.Environment["DYNAMIC_CONFIG_FILE_PATH"]
	require.NotNil(t, path)
	host := hostPath(s, *path)
	require.NotEmpty(t, host, "DYNAMIC_CONFIG_FILE_PATH %s is on no mount", *path)
	b, err := os.ReadFile(host)
	require.NoError(t, err)
	lr := dynamicconfig.LoadYamlFile(b)
	assert.NoError(t, lr.Err())
	assert.Empty(t, lr.Warnings)
	assert.NotEmpty(t, lr.Map)
}

// temporal-setup registers the search attribute Tandem's workflows set, idempotently.
func TestSetupRegistersTandemSearchAttribute(t *testing.T) {
	script := readFile(t, "deploy/temporal/setup-namespace.sh")
	assert.Contains(t, script, "--name "+workflows.SyncSearchAttribute+" --type Keyword")
	assert.Contains(t, script, "temporal operator namespace create")
	assert.Contains(t, script, "temporal operator cluster health")
	schema := readFile(t, "deploy/temporal/setup-postgres.sh")
	for _, db := range []string{"setup temporal postgresql/v12/temporal", "setup temporal_visibility postgresql/v12/visibility"} {
		assert.Contains(t, schema, db)
	}
}

// stage is one FROM of a Dockerfile.
type stage struct {
	base, name string
	lines      []string // the stage's instructions, heredoc bodies excluded
}

type dockerfile struct {
	stages  []stage
	heredoc map[string]string // heredoc bodies by destination (COPY <<EOF dest)
}

func (d dockerfile) names() []string {
	var n []string
	for _, s := range d.stages {
		n = append(n, s.name)
	}
	return n
}

func (d dockerfile) stage(name string) (stage, bool) {
	for _, s := range d.stages {
		if s.name == name {
			return s, true
		}
	}
	return stage{}, false
}

var (
	fromLine    = regexp.MustCompile(`(?i)^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$`)
	heredocOpen = regexp.MustCompile(`<<-?["']?([A-Za-z_][A-Za-z0-9_]*)["']?(?:\s+(\S+))?`)
)

// parseDockerfile reads the stages of a Dockerfile, minimally: comments, line continuations
// and heredocs are understood, nothing else.
func parseDockerfile(t *testing.T, text string) dockerfile {
	t.Helper()
	d := dockerfile{heredoc: map[string]string{}}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(lines[i])
		}
		if m := heredocOpen.FindStringSubmatch(line); m != nil && !strings.HasPrefix(strings.ToUpper(line), "FROM") {
			var body []string
			for i++; i < len(lines) && strings.TrimSpace(lines[i]) != m[1]; i++ {
				body = append(body, lines[i])
			}
			require.Less(t, i, len(lines), "heredoc %s is not closed", m[1])
			d.heredoc[m[2]] = strings.Join(body, "\n")
		}
		if m := fromLine.FindStringSubmatch(line); m != nil {
			d.stages = append(d.stages, stage{base: m[1], name: m[2]})
			continue
		}
		require.NotEmpty(t, d.stages, "instruction before the first FROM: %s", line)
		d.stages[len(d.stages)-1].lines = append(d.stages[len(d.stages)-1].lines, line)
	}
	return d
}

// user is the user a stage runs as: its own USER, else its base stage's.
func (d dockerfile) user(s stage) string {
	for i := len(s.lines) - 1; i >= 0; i-- {
		if f := strings.Fields(s.lines[i]); len(f) == 2 && strings.EqualFold(f[0], "USER") {
			return f[1]
		}
	}
	if base, ok := d.stage(s.base); ok {
		return d.user(base)
	}
	if strings.HasSuffix(s.base, ":nonroot") {
		return "nonroot" // distroless's nonroot images default to 65532
	}
	return ""
}

// image is the external image a stage is ultimately built on.
func (d dockerfile) image(s stage) string {
	if base, ok := d.stage(s.base); ok {
		return d.image(base)
	}
	return s.base
}

func TestDockerfile(t *testing.T) {
	d := parseDockerfile(t, readFile(t, "Dockerfile"))
	require.GreaterOrEqual(t, len(d.stages), 2, "multi-stage: build, then a small runtime")

	t.Run("pinned base images", func(t *testing.T) {
		for _, s := range d.stages {
			if _, isStage := d.stage(s.base); isStage || s.base == "scratch" {
				continue
			}
			if strings.HasPrefix(s.base, "gcr.io/distroless/") {
				// Distroless publishes no version tags: the Debian release is in the image
				// name and the variant (nonroot) in the tag; a digest pins it further.
				assertTagged(t, s.base, regexp.MustCompile(`^(nonroot|debug-nonroot)$`))
				assert.Regexp(t, `-debian\d+[:@]`, s.base)
				continue
			}
			assertPinned(t, s.base)
		}
	})

	t.Run("build stage", func(t *testing.T) {
		build := d.stages[0]
		goVersion := regexp.MustCompile(`(?m)^go (\S+)`).FindStringSubmatch(readFile(t, "go.mod"))
		require.NotNil(t, goVersion)
		assert.Regexp(t, `^golang:`+regexp.QuoteMeta(goVersion[1])+`(-|$)`, build.base, "build with go.mod's Go")
		all := strings.Join(build.lines, "\n")
		assert.Contains(t, all, "CGO_ENABLED=0")
		assert.Contains(t, all, "-trimpath")
		assert.Contains(t, all, `-ldflags "-s -w"`)
		assert.Contains(t, all, "./worker")
		assert.Contains(t, all, "./starter")
	})

	t.Run("healthcheck probe compiles as Go", func(t *testing.T) {
		src, ok := d.heredoc["/healthcheck/main.go"]
		require.True(t, ok, "the probe's source is not in the Dockerfile")
		_, err := parser.ParseFile(token.NewFileSet(), "main.go", src, parser.AllErrors)
		assert.NoError(t, err)
	})

	for _, target := range []struct{ name, binary string }{{"worker", "worker"}, {"ingress", "starter"}} {
		t.Run("target "+target.name, func(t *testing.T) {
			s, ok := d.stage(target.name)
			require.True(t, ok, "no stage %s", target.name)
			image := d.image(s)
			assert.True(t, strings.HasPrefix(image, "gcr.io/distroless/static") || image == "scratch",
				"%s runs on %s; use distroless static or scratch", target.name, image)
			user := d.user(s)
			assert.NotEmpty(t, user, "%s must set a non-root USER", target.name)
			name, _, _ := strings.Cut(user, ":")
			assert.NotContains(t, []string{"root", "0"}, name, "%s runs as root", target.name)
			all := strings.Join(s.lines, "\n")
			assert.Contains(t, all, "/usr/local/bin/"+target.binary)
			assert.Regexp(t, `(?m)^ENTRYPOINT \["/usr/local/bin/`+target.binary+`"\]$`, all)
			// The compose health checks call the probe; it must be in the image.
			chain := all
			for b, ok := d.stage(s.base); ok; b, ok = d.stage(b.base) {
				chain += "\n" + strings.Join(b.lines, "\n")
			}
			assert.Contains(t, chain, "/usr/local/bin/healthcheck")
		})
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	require.NoError(t, err)
	return a
}
