package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// The YAML is decoded by walking yaml.v3's node tree here rather than with
// yaml's own struct decoding: Decoder.KnownFields does not reach through
// custom unmarshalers, its errors name neither the entry nor the section, and
// the walk gives what validation needs besides: the line of every key, and
// whether a key was present at all (federated_token_file: "" and
// managed_identity: {} mean something).

// fields records the line of every key found in one section (global, a
// tenant, an operation). Keys of nested mappings are dotted:
// "managed_identity.client_id", "labels.team". Lines, not yaml's nodes: the
// node tree of a section is let go once it is decoded.
type fields map[string]int

func (f fields) has(key string) bool {
	_, ok := f[key]
	return ok
}

// line is the line of key, or def when the key is absent.
func (f fields) line(key string, def int) int {
	if l, ok := f[key]; ok {
		return l
	}
	return def
}

// configError is an error at a place in the file.
type configError struct {
	name  string // file name
	line  int
	where string // global, tenants[0] "contoso", …; may be empty
	key   string // may be empty
	msg   string
	err   error // the cause, if any, already in msg
}

func (e *configError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: ", e.name, e.line)
	for _, s := range []string{e.where, e.key} {
		if s != "" {
			b.WriteString(s)
			b.WriteString(": ")
		}
	}
	b.WriteString(e.msg)
	return b.String()
}

func (e *configError) Unwrap() error { return e.err }

type decoder struct {
	name string
	// sections maps a pointer to a decoded section (*Global, *Tenant,
	// *Operation, *Config) to the keys found in it.
	sections map[any]fields
	// expanded holds the pairs of each mapping seen, merges expanded; nil
	// while a mapping is being expanded.
	expanded map[*yaml.Node][]pair
	// maps are the maps of strings decoded so far, by content (intern).
	maps map[string]reflect.Value
}

func (d *decoder) errorf(line int, where, key, format string, args ...any) error {
	return &configError{name: d.name, line: line, where: where, key: key, msg: fmt.Sprintf(format, args...)}
}

// yamlLineError matches yaml.v3's syntax errors, which carry the line.
var yamlLineError = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError puts yaml's own message in our shape, keeping its line.
func syntaxError(name string, err error) error {
	if m := yamlLineError.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("%s:%s: %s", name, m[1], m[2])
	}
	return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
}

// decode reads one YAML document into cfg, which holds the defaults.
func (d *decoder) decode(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.sections[cfg] = fields{}
			return nil // an empty file: validation says what is missing
		}
		return syntaxError(d.name, err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return d.errorf(next.Line, "", "", "a second YAML document; the config is one document")
	} else if !errors.Is(err, io.EOF) {
		return syntaxError(d.name, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	return d.value(root, reflect.ValueOf(cfg).Elem(), nil, "", "")
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	secretType   = reflect.TypeOf(Secret(""))
)

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// value decodes n into v. f collects the keys of the current section; key is
// the dotted name of the value within it ("" for the section itself).
func (d *decoder) value(n *yaml.Node, v reflect.Value, f fields, where, key string) error {
	n = resolveAlias(n)
	t := v.Type()
	switch {
	case t == durationType:
		if isNull(n) {
			return nil
		}
		if n.Kind != yaml.ScalarNode {
			return d.typeError(n, t, where, key)
		}
		dur, err := parseDuration(n.Value)
		if err != nil {
			return d.typeError(n, t, where, key)
		}
		v.SetInt(int64(dur))
		return nil

	case t.Kind() == reflect.Pointer:
		// Present, even as null, means set: managed_identity: {} and
		// federated_token_file: "" carry meaning.
		p := reflect.New(t.Elem())
		if !isNull(n) {
			if err := d.value(n, p.Elem(), f, where, key); err != nil {
				return err
			}
		}
		v.Set(p)
		return nil

	case t.Kind() == reflect.Struct:
		if where == "" && key != "" {
			// A section of its own, such as global.
			where, key, f = key, "", fields{}
			d.sections[v.Addr().Interface()] = f
		} else if f == nil {
			f = fields{}
			d.sections[v.Addr().Interface()] = f
		}
		return d.mapping(n, v, f, where, key)

	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		if isNull(n) {
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			return d.typeError(n, t, where, key)
		}
		// Sized before decoding, so that the elements (the keys of
		// d.sections) do not move.
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			e := s.Index(i)
			if lf := e.FieldByName("Line"); lf.IsValid() && lf.Kind() == reflect.Int {
				lf.SetInt(int64(item.Line))
			}
			ef := fields{}
			d.sections[e.Addr().Interface()] = ef
			if err := d.mapping(item, e, ef, fmt.Sprintf("%s[%d]", join(where, key), i), ""); err != nil {
				return err
			}
			if n.Anchor == "" {
				// Decoded: let its part of the tree go while the rest
				// is decoded (50,000 operations are 100 MiB of nodes).
				// An anchored sequence stays whole for its aliases; an
				// anchored item stays reachable through its own.
				n.Content[i] = nil
				d.forget(item)
			}
		}
		v.Set(s)
		return nil

	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.String:
		if isNull(n) {
			return nil
		}
		if n.Kind != yaml.MappingNode {
			return d.typeError(n, t, where, key)
		}
		ps, err := d.pairs(n, where, key)
		if err != nil {
			return err
		}
		m := reflect.MakeMapWithSize(t, len(ps))
		for _, p := range ps {
			k := join(key, p.key.Value)
			f[k] = p.key.Line
			val := resolveAlias(p.value)
			if val.Kind != yaml.ScalarNode {
				return d.typeError(val, t.Elem(), where, k)
			}
			s := val.Value
			if isNull(val) {
				s = ""
			}
			m.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(t.Key()), reflect.ValueOf(s).Convert(t.Elem()))
		}
		v.Set(d.intern(m))
		return nil

	case t.Kind() == reflect.String || t.Kind() == reflect.Int || t.Kind() == reflect.Bool:
		if isNull(n) {
			return nil
		}
		if n.Kind != yaml.ScalarNode {
			return d.typeError(n, t, where, key)
		}
		switch t.Kind() {
		case reflect.String:
			// The text as written: an id such as 1e3 or 0x10 stays itself.
			v.SetString(n.Value)
			return nil
		case reflect.Int:
			// yaml.v3 would truncate 4.5 to 4.
			if n.ShortTag() != "!!int" {
				return d.typeError(n, t, where, key)
			}
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			return d.typeError(n, t, where, key)
		}
		return nil
	}
	return fmt.Errorf("config: internal error: cannot decode into %s", t)
}

// mapping decodes the mapping n into the struct v, refusing keys that v has
// no field for.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, f fields, where, prefix string) error {
	n = resolveAlias(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return d.typeError(n, v.Type(), where, prefix)
	}
	ps, err := d.pairs(n, where, prefix)
	if err != nil {
		return err
	}
	byKey := structFields(v.Type())
	for _, p := range ps {
		i, ok := byKey[p.key.Value]
		if !ok {
			return d.errorf(p.key.Line, where, prefix, "unknown key %q", p.key.Value)
		}
		k := join(prefix, p.key.Value)
		f[k] = p.key.Line
		if err := d.value(p.value, v.Field(i), f, where, k); err != nil {
			return err
		}
	}
	return nil
}

// structFields maps the yaml key of each decodable field of t to its index,
// worked out once per type: a file of 50,000 operations decodes 100,000
// structs.
func structFields(t reflect.Type) map[string]int {
	if m, ok := fieldIndex.Load(t); ok {
		return m.(map[string]int)
	}
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if !sf.IsExported() || name == "" || name == "-" {
			continue
		}
		m[name] = i
	}
	fieldIndex.Store(t, m)
	return m
}

// fieldIndex holds structFields' answers by type.
var fieldIndex sync.Map

type pair struct{ key, value *yaml.Node }

// intern returns the map of strings decoded before with the same keys and
// values as m, or m: 50,000 operations labelled by a handful of teams share
// a handful of maps, not 50,000 (about 300 bytes each). Nothing changes a
// decoded map (the collector shares a discovery job's labels the same way).
func (d *decoder) intern(m reflect.Value) reflect.Value {
	keys := make([]string, 0, m.Len())
	for _, k := range m.MapKeys() {
		keys = append(keys, k.String())
	}
	sort.Strings(keys)
	var id strings.Builder
	for _, k := range keys {
		// Each string after its length: a value holding the separator
		// cannot pass for two pairs.
		v := m.MapIndex(reflect.ValueOf(k).Convert(m.Type().Key())).String()
		fmt.Fprintf(&id, "%d:%s%d:%s", len(k), k, len(v), v)
	}
	if d.maps == nil {
		d.maps = map[string]reflect.Value{}
	}
	if prev, ok := d.maps[id.String()]; ok && prev.Type() == m.Type() {
		return prev
	}
	d.maps[id.String()] = m
	return m
}

// forget drops the expanded pairs of mapping n and of the mappings in its
// values, once n is decoded; a merge that needs them again expands them
// again.
func (d *decoder) forget(n *yaml.Node) {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		return
	}
	for _, p := range d.expanded[n] {
		if v := resolveAlias(p.value); v.Kind == yaml.MappingNode && v != n {
			delete(d.expanded, v)
		}
	}
	delete(d.expanded, n)
}

// pairs lists the key/value pairs of a mapping, with merge keys (<<: *anchor)
// expanded: a key given in the mapping itself wins over a merged one, and
// among merged mappings the first wins, as YAML says. A key given twice is
// an error.
func (d *decoder) pairs(n *yaml.Node, where, prefix string) ([]pair, error) {
	if ps, ok := d.expanded[n]; ok {
		if ps == nil {
			// An anchor merged into itself would otherwise never end.
			return nil, d.errorf(n.Line, where, join(prefix, "<<"), "merges a mapping into itself")
		}
		return ps, nil
	}
	d.expanded[n] = nil
	var own, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			ms, err := d.merged(v, where, prefix)
			if err != nil {
				return nil, err
			}
			merged = append(merged, ms...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, d.errorf(k.Line, where, prefix, "keys must be strings")
		}
		if first, ok := seen[k.Value]; ok {
			return nil, d.errorf(k.Line, where, join(prefix, k.Value), "repeated key (first at line %d)", first.Line)
		}
		seen[k.Value] = k
		own = append(own, pair{k, v})
	}
	for _, p := range merged {
		if seen[p.key.Value] == nil {
			seen[p.key.Value] = p.key
			own = append(own, p)
		}
	}
	if own == nil {
		own = []pair{}
	}
	// Remembered, so that a chain of anchors each merging the one before,
	// twice, costs one expansion per anchor rather than 2^n.
	d.expanded[n] = own
	return own, nil
}

// merged expands the value of a merge key: a mapping or a list of them.
func (d *decoder) merged(v *yaml.Node, where, prefix string) ([]pair, error) {
	v = resolveAlias(v)
	var ms []*yaml.Node
	switch v.Kind {
	case yaml.MappingNode:
		ms = []*yaml.Node{v}
	case yaml.SequenceNode:
		ms = v.Content
	default:
		return nil, d.errorf(v.Line, where, join(prefix, "<<"), "must be a mapping or a list of mappings")
	}
	var all []pair
	for _, m := range ms {
		if m = resolveAlias(m); m.Kind != yaml.MappingNode {
			return nil, d.errorf(m.Line, where, join(prefix, "<<"), "must be a mapping or a list of mappings")
		}
		ps, err := d.pairs(m, where, prefix)
		if err != nil {
			return nil, err
		}
		all = append(all, ps...)
	}
	return all, nil
}

// typeError says what a key wants and what it got. It never quotes the value
// of a Secret.
func (d *decoder) typeError(n *yaml.Node, t reflect.Type, where, key string) error {
	var want string
	switch {
	case t == durationType:
		want = "a duration such as 30s, 5m or 1h"
	case t.Kind() == reflect.String:
		want = "a string"
	case t.Kind() == reflect.Int:
		want = "an integer"
	case t.Kind() == reflect.Bool:
		want = "true or false"
	case t.Kind() == reflect.Slice:
		want = "a list"
	case t.Kind() == reflect.Map:
		want = "a mapping of names to strings"
	default:
		want = "a mapping"
	}
	var got string
	switch n.Kind {
	case yaml.MappingNode:
		got = "a mapping"
	case yaml.SequenceNode:
		got = "a list"
	default:
		if t == secretType {
			got = "something else"
		} else {
			got = fmt.Sprintf("%q", n.Value)
		}
	}
	return d.errorf(n.Line, where, key, "must be %s, got %s", want, got)
}

// parseDuration takes Go's durations (1h30m, 500ms, -1s) and Prometheus's
// (1d, 1w), as users of both will write either.
func parseDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	d, err := model.ParseDurationAllowNegative(s)
	return time.Duration(d), err
}
