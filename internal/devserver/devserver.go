// Package devserver runs a real Temporal server, persisted in SQLite (or in
// PostgreSQL, Options.Postgres), inside the current process, optionally with the
// Temporal Web UI. It backs `worker --dev`, the tests and the benchmarks; production
// workers talk to a separate cluster instead.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	serverlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"tandem/internal/logging"
	"tandem/internal/searchattr"
)

const (
	loopback         = "127.0.0.1"
	defaultNamespace = "default"
	clusterName      = "active"
	// startTimeout bounds how long Start waits for the frontend (and the UI) to answer.
	startTimeout = time.Minute
)

// Options configures Start. The zero value is an in-memory server on free
// loopback ports with the "default" namespace and no UI.
type Options struct {
	// DBFile is the SQLite file; "" keeps everything in memory (tests). Its
	// directory must exist; the schema is set up on first use and a restart on the
	// same file keeps every workflow.
	DBFile string
	// Postgres, when set, persists the server in PostgreSQL instead of SQLite (DBFile
	// is then unused): a URL postgres://user[:password]@host:port/database. Workflows
	// go in that database (default "temporal") and visibility records in
	// <database>_visibility; both are created if missing, with their schema, and a
	// restart on the same databases keeps every workflow.
	Postgres string
	// HistoryShards is the number of history shards; default 1. A database keeps the
	// number it was first used with (Temporal refuses another).
	HistoryShards int
	// DynamicConfig sets more of the server's dynamic config (by key, e.g.
	// "matching.numTaskqueueReadPartitions"), over the dev server's own settings.
	DynamicConfig map[string]any
	// IP the frontend (and the UI) listen on; default 127.0.0.1. The internal
	// services always listen on 127.0.0.1.
	IP string
	// Port of the frontend gRPC API; 0 picks a free port.
	Port int
	// UIPort of the Web UI; 0 runs no UI.
	UIPort int
	// Namespace to use, created if missing; default "default".
	Namespace string
	// SearchAttributes are registered on the namespace, whether the DB is new or reused.
	SearchAttributes map[string]enums.IndexedValueType
	// Logger receives the server's logs at warn level and above (the server is
	// chatty below that); nil discards them.
	Logger *zap.Logger
}

// Server is a running dev server. Stop it when done.
type Server struct {
	temporal  temporal.Server
	quiet     func() // silences the server's logger
	frontend  string
	namespace string
	logger    *zap.Logger

	ui     *uiserver.Server
	uiAddr string
	uiDone chan struct{} // closed when the UI's serve loop has returned

	stopOnce sync.Once
}

// Start starts the server and returns once the namespace is ready and its
// search attributes are usable.
func Start(opts Options) (*Server, error) {
	if opts.IP == "" {
		opts.IP = loopback
	}
	if net.ParseIP(opts.IP) == nil {
		return nil, fmt.Errorf("devserver: IP %q is not an IP address", opts.IP)
	}
	if opts.Namespace == "" {
		opts.Namespace = defaultNamespace
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}

	if opts.UIPort != 0 {
		// The UI server exits the process when it cannot listen, so check first.
		if err := checkFree(net.JoinHostPort(opts.IP, strconv.Itoa(opts.UIPort))); err != nil {
			return nil, fmt.Errorf("devserver: UI port: %w", err)
		}
	}
	ports, err := pickPorts(opts)
	if err != nil {
		return nil, err
	}
	var stores dataStores
	if opts.Postgres != "" {
		stores, err = preparePostgres(opts)
	} else {
		stores, err = prepareDB(opts)
	}
	if err != nil {
		return nil, err
	}
	conf := serverConfig(opts, ports, stores)
	logger, quiet := serverLogger(opts.Logger)

	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(staticHosts(conf)),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dynamicConfig(opts.DynamicConfig)),
	)
	if err != nil {
		return nil, fmt.Errorf("devserver: build server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("devserver: start server: %w", err)
	}
	s := &Server{
		temporal:  srv,
		quiet:     quiet,
		frontend:  conf.PublicClient.HostPort,
		namespace: opts.Namespace,
		logger:    opts.Logger,
	}

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.awaitReady(ctx, opts.SearchAttributes); err != nil {
		s.Stop()
		return nil, err
	}
	if opts.UIPort != 0 {
		if err := s.startUI(ctx, opts.IP, opts.UIPort); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// FrontendAddress is the host:port clients dial, e.g. "127.0.0.1:7233".
func (s *Server) FrontendAddress() string { return s.frontend }

// UIAddress is the Web UI's host:port, or "" when no UI runs.
func (s *Server) UIAddress() string { return s.uiAddr }

// Namespace is the namespace Start created or reused.
func (s *Server) Namespace() string { return s.namespace }

// NewClient dials the server; HostPort and Namespace default to this server's,
// and Logger to the server's logger.
func (s *Server) NewClient(ctx context.Context, opts client.Options) (client.Client, error) {
	if opts.HostPort == "" {
		opts.HostPort = s.frontend
	}
	if opts.Namespace == "" {
		opts.Namespace = s.namespace
	}
	if opts.Logger == nil {
		opts.Logger = logging.Temporal(s.logger)
	}
	return client.DialContext(ctx, opts)
}

// Stop stops the UI and the server. It is safe to call more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.ui != nil {
			// Closes the UI's listener and makes its serve loop return.
			s.ui.Stop()
			<-s.uiDone
		}
		s.quiet()
		if err := s.temporal.Stop(); err != nil {
			s.logger.Warn("devserver: stopping Temporal server", zap.Error(err))
		}
	})
}

// awaitReady waits until the frontend answers for the namespace and the search
// attributes are registered and usable.
func (s *Server) awaitReady(ctx context.Context, attrs map[string]enums.IndexedValueType) error {
	c, err := s.NewClient(ctx, client.Options{})
	if err != nil {
		return fmt.Errorf("devserver: connect to %s: %w", s.frontend, err)
	}
	defer c.Close()
	for {
		_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.namespace})
		if err == nil {
			break
		}
		if !sleep(ctx, pollInterval) {
			return fmt.Errorf("devserver: namespace %q not ready: %w", s.namespace, err)
		}
	}
	if err := searchattr.Ensure(ctx, c, s.namespace, attrs); err != nil {
		return fmt.Errorf("devserver: %w", err)
	}
	return nil
}

func (s *Server) startUI(ctx context.Context, ip string, port int) error {
	host := ip
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // the UI joins host and port with a plain colon
	}
	s.ui = uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		Host:                host,
		Port:                port,
		TemporalGRPCAddress: s.frontend,
		EnableUI:            true,
		DefaultNamespace:    s.namespace,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
		DisableNewsFetch:    true,
	}))
	s.uiDone = make(chan struct{})
	go func() {
		defer close(s.uiDone)
		if err := s.ui.Start(); err != nil {
			s.logger.Error("devserver: Web UI stopped", zap.Error(err))
		}
	}()
	// Wait for the listener: stopping the UI before it listens would leave it serving.
	dialAddr := net.JoinHostPort(dialableIP(ip), strconv.Itoa(port))
	for {
		conn, err := net.DialTimeout("tcp", dialAddr, time.Second)
		if err == nil {
			_ = conn.Close()
			break
		}
		if !sleep(ctx, 20*time.Millisecond) {
			return fmt.Errorf("devserver: Web UI did not listen on %s: %w", dialAddr, err)
		}
	}
	s.uiAddr = dialAddr
	return nil
}

// ports holds every port the server listens on.
type ports struct {
	frontend, frontendHTTP int
	history, matching, w   int
	membership             [4]int
}

// pickPorts takes the given frontend port, checking it is free, and picks free
// loopback ports for everything else, so that several servers can run in one
// process and in parallel test binaries.
func pickPorts(opts Options) (ports, error) {
	var p ports
	var err error
	if opts.Port != 0 {
		if err := checkFree(net.JoinHostPort(opts.IP, strconv.Itoa(opts.Port))); err != nil {
			return p, fmt.Errorf("devserver: frontend port: %w", err)
		}
		p.frontend = opts.Port
	} else if p.frontend, err = freePort(opts.IP); err != nil {
		return p, err
	}
	// The HTTP API listens on the frontend's IP.
	if p.frontendHTTP, err = freePort(opts.IP); err != nil {
		return p, err
	}
	for _, port := range []*int{&p.history, &p.matching, &p.w, &p.membership[0], &p.membership[1], &p.membership[2], &p.membership[3]} {
		if *port, err = freePort(loopback); err != nil {
			return p, err
		}
	}
	return p, nil
}

// freePort returns a port that is free on ip and that the kernel will not hand
// out again for a while: after listening on an ephemeral port it leaves a
// connection to it in TIME_WAIT, which keeps the port out of the ephemeral pool
// (for both listeners and outgoing connections) while an explicit bind with
// SO_REUSEADDR, as the server does, still succeeds.
func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("devserver: pick a free port on %s: %w", ip, err)
	}
	defer func() { _ = l.Close() }()
	addr := l.Addr().(*net.TCPAddr)
	dialAddr := &net.TCPAddr{IP: net.ParseIP(dialableIP(ip)), Port: addr.Port}
	client, err := net.DialTCP("tcp", nil, dialAddr)
	if err != nil {
		return 0, fmt.Errorf("devserver: pick a free port on %s: %w", ip, err)
	}
	defer func() { _ = client.Close() }()
	server, err := l.Accept()
	if err != nil {
		return 0, fmt.Errorf("devserver: pick a free port on %s: %w", ip, err)
	}
	// Closing the accepted side first puts the TIME_WAIT on the listening port.
	_ = server.Close()
	return addr.Port, nil
}

// checkFree reports an error when addr cannot be listened on.
func checkFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is not free (is another dev server running?): %w", addr, err)
	}
	return l.Close()
}

// dialableIP maps an unspecified listen address (0.0.0.0, ::) to loopback.
func dialableIP(ip string) string {
	if parsed := net.ParseIP(ip); parsed == nil || parsed.IsUnspecified() {
		return loopback
	}
	return ip
}

var memoryDBs atomic.Int64

// dataStores are the server's two SQL stores: executions and visibility (the same
// one in SQLite).
type dataStores struct {
	plugin           string
	main, visibility *config.SQL
}

// prepareDB returns the SQLite config, creating the schema for a new file and
// the namespace (with its search attributes) when it is missing.
func prepareDB(opts Options) (dataStores, error) {
	conf, err := prepareSQLite(opts)
	if err != nil {
		return dataStores{}, err
	}
	return dataStores{plugin: sqliteplugin.PluginName, main: conf, visibility: conf}, nil
}

func prepareSQLite(opts Options) (*config.SQL, error) {
	conf := &config.SQL{PluginName: sqliteplugin.PluginName}
	if opts.DBFile == "" {
		// Each server gets its own shared-cache in-memory database; the SQLite plugin
		// creates the schema when it opens one.
		conf.DatabaseName = fmt.Sprintf("tandem-devserver-%d-%d", os.Getpid(), memoryDBs.Add(1))
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
	} else {
		conf.DatabaseName = opts.DBFile
		conf.ConnectAttributes = map[string]string{
			"mode": "rwc",
			// WAL with normal sync survives a crash of the process, and is much faster
			// than fsyncing every commit.
			"journal_mode": "wal",
			"synchronous":  "normal",
		}
		info, err := os.Stat(opts.DBFile)
		switch {
		case errors.Is(err, os.ErrNotExist) || err == nil && info.Size() == 0:
			if _, err := os.Stat(filepath.Dir(opts.DBFile)); err != nil {
				return nil, fmt.Errorf("devserver: directory for database %s: %w", opts.DBFile, err)
			}
			if err := sqliteschema.SetupSchema(conf); err != nil {
				// Leave no half-made file behind: the next start would take it as set up.
				_ = os.Remove(opts.DBFile)
				return nil, fmt.Errorf("devserver: set up schema in %s: %w", opts.DBFile, err)
			}
		case err != nil:
			return nil, fmt.Errorf("devserver: database %s: %w", opts.DBFile, err)
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, opts.Namespace, false, opts.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("devserver: namespace %q: %w", opts.Namespace, err)
	}
	// A no-op for a namespace that exists; its search attributes are then added after start.
	if err := sqliteschema.CreateNamespaces(conf, ns); err != nil {
		return nil, fmt.Errorf("devserver: create namespace %q: %w", opts.Namespace, err)
	}
	return conf, nil
}

func serverConfig(opts Options, p ports, stores dataStores) *config.Config {
	frontend := net.JoinHostPort(dialableIP(opts.IP), strconv.Itoa(p.frontend))
	frontendHTTP := net.JoinHostPort(dialableIP(opts.IP), strconv.Itoa(p.frontendHTTP))
	internal := func(grpcPort, membershipPort int) config.Service {
		// Membership is static (see staticHosts), so the membership port is never
		// bound; it is still set so that nothing falls back to a fixed default.
		return config.Service{RPC: config.RPC{GRPCPort: grpcPort, MembershipPort: membershipPort, BindOnIP: loopback}}
	}
	conf := &config.Config{}
	conf.Global.Membership = config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: loopback}
	shards := int32(opts.HistoryShards)
	if shards <= 0 {
		shards = 1
	}
	conf.Persistence = config.Persistence{
		DefaultStore:     stores.plugin,
		VisibilityStore:  stores.plugin,
		NumHistoryShards: shards,
		DataStores:       map[string]config.DataStore{stores.plugin: {SQL: stores.main}},
	}
	if stores.visibility != stores.main {
		conf.Persistence.VisibilityStore = stores.plugin + "-visibility"
		conf.Persistence.DataStores[conf.Persistence.VisibilityStore] = config.DataStore{SQL: stores.visibility}
	}
	conf.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             frontend,
				HTTPAddress:            frontendHTTP,
			},
		},
	}
	conf.DCRedirectionPolicy = config.DCRedirectionPolicy{Policy: "noop"}
	conf.Services = map[string]config.Service{
		string(primitives.FrontendService): {RPC: config.RPC{
			GRPCPort:       p.frontend,
			HTTPPort:       p.frontendHTTP,
			MembershipPort: p.membership[0],
			BindOnIP:       opts.IP,
		}},
		string(primitives.HistoryService):  internal(p.history, p.membership[1]),
		string(primitives.MatchingService): internal(p.matching, p.membership[2]),
		string(primitives.WorkerService):   internal(p.w, p.membership[3]),
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	// The server's own system workers dial the frontend through this.
	conf.PublicClient.HostPort = frontend
	return conf
}

// staticHosts pins every service to its one local address, which skips ringpop
// membership: faster start, and no membership listener.
func staticHosts(conf *config.Config) map[primitives.ServiceName]static.Hosts {
	hosts := make(map[primitives.ServiceName]static.Hosts, len(conf.Services))
	for name, svc := range conf.Services {
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(
			net.JoinHostPort(dialableIP(svc.RPC.BindOnIP), strconv.Itoa(svc.RPC.GRPCPort)))
	}
	return hosts
}

// dynamicConfig holds the settings a single-process dev server needs; the same
// ones the Temporal CLI's dev server sets, and one that keeps Stop clean.
func dynamicConfig(more map[string]any) dynamicconfig.StaticClient {
	c := dynamicconfig.StaticClient{
		// A larger host-level mutable-state cache: there is only one history host.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): 8096,
		// The UI and `temporal workflow list` poll visibility often.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// The server's Stop (v1.32.0) never stops the SDK workers of the parent close
		// policy processor and of the scanners: their pollers would outlive every dev
		// server of a test process. Without that worker, history applies parent close
		// policies itself; the scanners only tidy long-lived production databases.
		dynamicconfig.EnableParentClosePolicyWorker.Key(): false,
		dynamicconfig.TaskQueueScannerEnabled.Key():       false,
		dynamicconfig.HistoryScannerEnabled.Key():         false,
		// A shard's transfer queue is read at most this often (default 20 a second).
		// Under a stream of webhooks every workflow task waited for the next read,
		// about 45 ms, three times per micro-batch; see deploy/dynamicconfig/tandem.yaml.
		dynamicconfig.TransferProcessorMaxPollRPS.Key(): 200,
	}
	for k, v := range more {
		c[dynamicconfig.MakeKey(k)] = v
	}
	return c
}

// serverLogger hands the server's logs at warn level and above to l, until
// quiet is called: a stopping server reports every poll it cancels as an error.
func serverLogger(l *zap.Logger) (logger serverlog.Logger, quiet func()) {
	level := zap.NewAtomicLevelAt(zapcore.WarnLevel)
	// The server's logger names the calling line itself ("logging-call-at"); zap's
	// caller would always be the server's logging wrapper.
	l = l.Named("temporal").WithOptions(zap.WithCaller(false), zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return gatedCore{Core: c, level: level}
	}))
	return serverlog.NewZapLogger(l), func() { level.SetLevel(zapcore.FatalLevel) }
}

// gatedCore drops entries below a level that can change while logging.
type gatedCore struct {
	zapcore.Core
	level zap.AtomicLevel
}

func (c gatedCore) Enabled(l zapcore.Level) bool {
	return c.level.Enabled(l) && c.Core.Enabled(l)
}

func (c gatedCore) With(fields []zapcore.Field) zapcore.Core {
	return gatedCore{Core: c.Core.With(fields), level: c.level}
}

func (c gatedCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !c.level.Enabled(e.Level) {
		return ce
	}
	return c.Core.Check(e, ce)
}

const pollInterval = 50 * time.Millisecond

// sleep waits for d or until ctx is done; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
