package devserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"path"
	"strings"

	"go.temporal.io/server/common/config"
	serverlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	pgplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/common/resolver"
	serverschema "go.temporal.io/server/schema"
	pgschema "go.temporal.io/server/schema/postgresql/v12"
	sqliteschema "go.temporal.io/server/schema/sqlite"
)

// The schemas of Temporal's PostgreSQL stores, embedded in the server module, at the
// versions this server expects (the same files `temporal-sql-tool setup-schema` reads).
const (
	pgExecutionSchema  = "postgresql/v12/temporal"
	pgVisibilitySchema = "postgresql/v12/visibility"
	// pgAdminDatabase is the database connected to when creating the two others.
	pgAdminDatabase = "postgres"
	// pgDefaultDatabase is the executions database when the URL names none.
	pgDefaultDatabase = "temporal"
)

// preparePostgres returns the configs of the two PostgreSQL stores Options.Postgres
// names, creating the databases and their schemas when missing, and the namespace (with
// its search attributes) when it is missing.
func preparePostgres(opts Options) (dataStores, error) {
	main, err := postgresConfig(opts.Postgres)
	if err != nil {
		return dataStores{}, err
	}
	vis := *main
	vis.DatabaseName = main.DatabaseName + "_visibility"
	for _, s := range []struct {
		conf            *config.SQL
		schema, version string
	}{
		{main, pgExecutionSchema, pgschema.Version},
		{&vis, pgVisibilitySchema, pgschema.VisibilityVersion},
	} {
		if err := setupPostgres(s.conf, s.schema, s.version); err != nil {
			return dataStores{}, err
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, opts.Namespace, false, opts.SearchAttributes)
	if err != nil {
		return dataStores{}, fmt.Errorf("devserver: namespace %q: %w", opts.Namespace, err)
	}
	// Despite its package, CreateNamespaces writes through the config's own SQL plugin;
	// a no-op for a namespace that exists.
	if err := sqliteschema.CreateNamespaces(main, ns); err != nil {
		return dataStores{}, fmt.Errorf("devserver: create namespace %q in PostgreSQL: %w", opts.Namespace, err)
	}
	return dataStores{plugin: pgplugin.PluginNamePGX, main: main, visibility: &vis}, nil
}

// postgresConfig parses a postgres:// URL into the server's SQL config. Errors never
// quote the URL (it may hold a password).
func postgresConfig(raw string) (*config.SQL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return nil, errors.New("devserver: Postgres is not a URL postgres://user[:password]@host:port/database")
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "5432"
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" {
		db = pgDefaultDatabase
	}
	if !validDatabaseName(db) {
		return nil, fmt.Errorf("devserver: PostgreSQL database name %q: letters, digits and _ only", db)
	}
	pw, _ := u.User.Password()
	attrs := map[string]string{}
	for k, v := range u.Query() {
		if len(v) > 0 {
			attrs[k] = v[0]
		}
	}
	return &config.SQL{
		PluginName:        pgplugin.PluginNamePGX,
		User:              u.User.Username(),
		Password:          pw,
		DatabaseName:      db,
		ConnectAddr:       net.JoinHostPort(host, port),
		ConnectProtocol:   "tcp",
		ConnectAttributes: attrs,
		MaxConns:          20,
		MaxIdleConns:      20,
	}, nil
}

// validDatabaseName: the name is spliced into CREATE DATABASE.
func validDatabaseName(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// setupPostgres creates conf's database if it is missing and, when it has no schema
// version yet, loads the schema and records its version, as `temporal-sql-tool
// create-database` and `setup-schema` do.
func setupPostgres(conf *config.SQL, schemaDir, version string) error {
	logger := serverlog.NewNoopLogger()
	admin := *conf
	admin.DatabaseName = pgAdminDatabase
	adb, err := sql.NewSQLAdminDB(sqlplugin.DbKindUnknown, &admin, resolver.NewNoopResolver(), logger, metrics.NoopMetricsHandler)
	if err != nil {
		return fmt.Errorf("devserver: connect to PostgreSQL at %s: %w", conf.ConnectAddr, err)
	}
	err = adb.CreateDatabase(conf.DatabaseName) // a no-op for one that exists
	adb.Close()
	if err != nil {
		return fmt.Errorf("devserver: create PostgreSQL database %s: %w", conf.DatabaseName, err)
	}

	db, err := sql.NewSQLAdminDB(sqlplugin.DbKindUnknown, conf, resolver.NewNoopResolver(), logger, metrics.NoopMetricsHandler)
	if err != nil {
		return fmt.Errorf("devserver: connect to PostgreSQL database %s: %w", conf.DatabaseName, err)
	}
	defer db.Close()
	if v, err := db.ReadSchemaVersion(conf.DatabaseName); err == nil && v != "" {
		return nil // set up before; the server checks the version itself
	}
	body, err := fs.ReadFile(serverschema.Assets(), path.Join(schemaDir, "schema.sql"))
	if err != nil {
		return fmt.Errorf("devserver: schema %s: %w", schemaDir, err)
	}
	stmts, err := persistence.LoadAndSplitQueryFromReaders([]io.Reader{bytes.NewReader(body)})
	if err != nil {
		return fmt.Errorf("devserver: schema %s: %w", schemaDir, err)
	}
	if err := db.CreateSchemaVersionTables(); err != nil {
		return fmt.Errorf("devserver: schema version tables in %s: %w", conf.DatabaseName, err)
	}
	for _, stmt := range stmts {
		if err := db.Exec(stmt); err != nil {
			// The version is written last: a database left half set up is refused by
			// the next start with this same error, not taken as ready.
			return fmt.Errorf("devserver: set up schema %s in database %s (drop the database to start again): %w",
				schemaDir, conf.DatabaseName, err)
		}
	}
	if err := db.UpdateSchemaVersion(conf.DatabaseName, version, version); err != nil {
		return fmt.Errorf("devserver: record schema version in %s: %w", conf.DatabaseName, err)
	}
	if err := db.WriteSchemaUpdateLog("0", version, "", "initial version"); err != nil {
		return fmt.Errorf("devserver: record schema version in %s: %w", conf.DatabaseName, err)
	}
	return nil
}
