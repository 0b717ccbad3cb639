package graph

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// members are the top-level members of a JSON object, each value as the
// bytes of the body it came in: what Decode reads an operation from,
// without a map of raw messages per answer (a cold scrape of 10,000
// operations decodes 10,000 answers). They say what
// json.Unmarshal(body, &map[string]json.RawMessage{}) would: keys
// unescaped as encoding/json does, and of a key given twice the last.
type members struct {
	list []member
	arr  [16]member // list's first backing array: most answers have fewer members
}

type member struct {
	key string // unescaped, as encoding/json gives it
	raw []byte // the value, a slice of the body
}

// read takes the members of body; ok is false, having read nothing, unless
// body is valid JSON holding one object, for the caller to ask
// encoding/json why. valid says body is known to be valid JSON already (a
// $batch's inner answer, which the batch's reader checked).
func (m *members) read(body []byte, valid bool) (ok bool) {
	m.list = m.arr[:0]
	if !valid && !validJSON(body) {
		return false
	}
	return eachMember(body, func(key, raw []byte) bool {
		m.list = append(m.list, member{key: keyString(key), raw: raw})
		return true
	})
}

// eachMember calls member with each member of the object body (valid
// JSON), its key as quoted in body, until member returns false; it
// reports false if body is not an object or member returned false.
func eachMember(body []byte, member func(key, raw []byte) bool) bool {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	i = skipSpace(body, i+1)
	for i < len(body) && body[i] == '"' {
		end := skipValue(body, i)
		key := body[i:end]
		i = skipSpace(body, end) + 1 // past ':'
		i = skipSpace(body, i)
		end = skipValue(body, i)
		if !member(key, body[i:end]) {
			return false
		}
		i = skipSpace(body, end)
		if i < len(body) && body[i] == ',' {
			i = skipSpace(body, i+1)
		}
	}
	return true
}

// get is the value of key, the last one given.
func (m *members) get(key string) ([]byte, bool) {
	for k := len(m.list) - 1; k >= 0; k-- {
		if m.list[k].key == key {
			return m.list[k].raw, true
		}
	}
	return nil, false
}

// str reads the member key as json.Unmarshal into a string would; ok is
// false if it is absent or neither a JSON string nor null.
func (m *members) str(key string) (string, bool) {
	raw, ok := m.get(key)
	if !ok {
		return "", false
	}
	return jsonString(raw)
}

// jsonString is the string raw (valid JSON) holds, as encoding/json reads
// it: escapes resolved, bytes that are not UTF-8 replaced, null the empty
// string.
func jsonString(raw []byte) (string, bool) {
	if string(raw) == "null" {
		return "", true
	}
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		return string(in), true
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

// jsonArrayLen counts the elements of raw (valid JSON) if it is an array.
func jsonArrayLen(raw []byte) (n int, ok bool) {
	if len(raw) == 0 || raw[0] != '[' {
		return 0, false
	}
	for i := skipSpace(raw, 1); i < len(raw) && raw[i] != ']'; n++ {
		i = skipSpace(raw, skipValue(raw, i))
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return n, true
}

// keyString is a member's key, quoted as in the body.
func keyString(quoted []byte) string {
	s, _ := jsonString(quoted)
	return s
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue is where the JSON value at b[i] ends; b is valid JSON.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		for i++; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
			case '"':
				return i + 1
			}
		}
		return i
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipValue(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default: // a number, true, false, null
		for i < len(b) && !bytes.ContainsRune([]byte(",}] \t\n\r"), rune(b[i])) {
			i++
		}
		return i
	}
}
