// Package logging builds Tandem's zap logger and hands it to the Temporal SDK.
package logging

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.temporal.io/sdk/log"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"

	"tandem/secret"
)

// Levels lists the level names New accepts.
const Levels = "debug, info, warn, error"

// New returns a logger writing to stderr at the given level ("debug", "info",
// "warn" or "error"; "" means info). Output is a console format for humans
// unless json is set, in which case it is one JSON object per line.
func New(level string, json bool) (*zap.Logger, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	var enc zapcore.Encoder
	if json {
		cfg := zap.NewProductionEncoderConfig()
		cfg.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	} else {
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		enc = zapcore.NewConsoleEncoder(cfg)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(os.Stderr), lvl)
	return zap.New(core, zap.AddCaller(), zap.AddStacktrace(zapcore.DPanicLevel)), nil
}

// ParseLevel turns a level name into a zap level; "" means info.
func ParseLevel(level string) (zapcore.Level, error) {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "":
		return zapcore.InfoLevel, nil
	case "debug":
		return zapcore.DebugLevel, nil
	case "info":
		return zapcore.InfoLevel, nil
	case "warn", "warning":
		return zapcore.WarnLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	return zapcore.InfoLevel, fmt.Errorf("unknown log level %q: use one of %s", level, Levels)
}

// Temporal adapts l to the Temporal SDK's logger, for client.Options.Logger.
// The caller recorded is the SDK's or the workflow's call site, not this adapter.
func Temporal(l *zap.Logger) log.Logger {
	h := zapslog.NewHandler(l.Core(),
		zapslog.WithName(l.Name()),
		zapslog.WithCaller(true),
		// The SDK reports failed activities and workflow tasks at error level with
		// the failure attached; a Go stack of the logging call adds only noise.
		zapslog.AddStacktraceAt(slog.Level(1<<30)),
	)
	return log.NewStructuredLogger(slog.New(h))
}

// Scrub returns l with every secret s knows removed from each entry's message and fields
// (strings, errors, anything printed), so a library that quotes a DSN or a token in an
// error does not put it in the log.
func Scrub(l *zap.Logger, s *secret.Scrubber) *zap.Logger {
	if !s.Active() {
		return l
	}
	return l.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return scrubCore{Core: c, s: s} }))
}

type scrubCore struct {
	zapcore.Core
	s *secret.Scrubber
}

func (c scrubCore) With(fields []zapcore.Field) zapcore.Core {
	return scrubCore{Core: c.Core.With(scrubFields(c.s, fields)), s: c.s}
}

func (c scrubCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c scrubCore) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	ent.Message = c.s.String(ent.Message)
	return c.Core.Write(ent, scrubFields(c.s, fields))
}

func scrubFields(s *secret.Scrubber, fields []zapcore.Field) []zapcore.Field {
	out := make([]zapcore.Field, len(fields))
	for i, f := range fields {
		switch f.Type {
		case zapcore.StringType:
			f.String = s.String(f.String)
		case zapcore.ErrorType:
			if err, ok := f.Interface.(error); ok {
				f = zap.String(f.Key, s.String(err.Error()))
			}
		case zapcore.StringerType, zapcore.ReflectType:
			f = zap.String(f.Key, s.String(fmt.Sprint(f.Interface)))
		}
		out[i] = f
	}
	return out
}
