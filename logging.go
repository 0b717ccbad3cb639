package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
)

// slogBridge writes exporter-toolkit's slog records through the project's
// go-kit logger with the keys of every other line: level, ts, caller, msg,
// then the record's attributes, so that a log reader (or a logfmt or JSON
// parser) sees one format whichever library wrote the line.
type slogBridge struct {
	logger log.Logger // level-filtered; without ts and caller
	min    slog.Level
	attrs  []any // keyvals of WithAttrs, keys already prefixed
	group  string
}

func newSlogBridge(logger log.Logger, min slog.Level) *slogBridge {
	return &slogBridge{logger: logger, min: min}
}

// Enabled implements slog.Handler.
func (h *slogBridge) Enabled(_ context.Context, l slog.Level) bool { return l >= h.min }

// Handle implements slog.Handler.
func (h *slogBridge) Handle(_ context.Context, r slog.Record) error {
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	kv := make([]any, 0, 6+len(h.attrs)+2*r.NumAttrs())
	kv = append(kv, "ts", t.UTC().Format(time.RFC3339Nano))
	if r.PC != 0 {
		f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		kv = append(kv, "caller", filepath.Base(f.File)+":"+strconv.Itoa(f.Line))
	}
	kv = append(kv, "msg", r.Message)
	kv = append(kv, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		kv = appendAttr(kv, h.group, a)
		return true
	})
	var l log.Logger
	switch {
	case r.Level >= slog.LevelError:
		l = level.Error(h.logger)
	case r.Level >= slog.LevelWarn:
		l = level.Warn(h.logger)
	case r.Level >= slog.LevelInfo:
		l = level.Info(h.logger)
	default:
		l = level.Debug(h.logger)
	}
	return l.Log(kv...)
}

// appendAttr adds a as key, value pairs; a group's members get its name
// as a prefix, "group.key".
func appendAttr(kv []any, prefix string, a slog.Attr) []any {
	v := a.Value.Resolve()
	if a.Key == "" && v.Kind() != slog.KindGroup {
		return kv
	}
	key := a.Key
	if prefix != "" && key != "" {
		key = prefix + "." + key
	}
	if v.Kind() == slog.KindGroup {
		if key == "" {
			key = prefix
		}
		for _, g := range v.Group() {
			kv = appendAttr(kv, key, g)
		}
		return kv
	}
	return append(kv, key, v.Any())
}

// WithAttrs implements slog.Handler.
func (h *slogBridge) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]any(nil), h.attrs...)
	for _, a := range as {
		c.attrs = appendAttr(c.attrs, h.group, a)
	}
	return &c
}

// WithGroup implements slog.Handler.
func (h *slogBridge) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}
