package config

import (
	"encoding/json"
	"fmt"
	"io"
)

// redacted is what a Secret shows instead of its value.
const redacted = "<secret>"

// Secret is a string that never shows itself: fmt (every verb, %#v
// included), String, GoString and the YAML, JSON and text marshallers all
// give "<secret>", so a Config can be logged, printed or served whole.
// Reveal returns the value, for the one place that needs it: the credential.
//
// The marshallers give "" for an empty Secret, so that a marshalled config
// does not claim a secret where none was set; the fmt methods give
// "<secret>" even then.
//
// Do not use a Secret as a map key: encoding/json writes keys of a string
// type as they are, whatever their methods.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer, for %#v.
func (s Secret) GoString() string { return redacted }

// Format implements fmt.Formatter, so that no verb reaches the value: fmt
// calls String only for %v, %s, %q, %x and %X, and %d of a string type would
// print the value in its complaint.
func (s Secret) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, redacted) }

// MarshalYAML implements yaml.Marshaler.
func (s Secret) MarshalYAML() (any, error) { return s.shown(), nil }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.shown()) }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.shown()), nil }

func (s Secret) shown() string {
	if s == "" {
		return ""
	}
	return redacted
}
