package graphtest

import (
	"bytes"
	"encoding/json"
	"testing"
)

// rawObject writes what encoding/json writes for the same map, but for
// the white space and HTML escapes it leaves in the values as they are.
func TestRawObjectIsEncodingJSONs(t *testing.T) {
	for _, m := range []map[string]json.RawMessage{
		{},
		{"status": json.RawMessage(`"running"`), "id": json.RawMessage(`"a"`), "@odata.context": json.RawMessage(`"https://x/$metadata#y/$entity"`)},
		{"nested": json.RawMessage(`{ "b": [1, 2, {"c": "<&>"}] }`), "empty": nil, "n": json.RawMessage(`-1.5e3`)},
		{"ké": json.RawMessage(`true`), "a\"b": json.RawMessage(`null`), "<tag>": json.RawMessage(`"x"`), "a\\b": json.RawMessage(`1`), "\u2028": json.RawMessage(`2`)},
	} {
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got := rawObject(m)
		var compact, escaped bytes.Buffer
		if err := json.Compact(&compact, got); err != nil {
			t.Fatalf("%s is not JSON: %v", got, err)
		}
		json.HTMLEscape(&escaped, compact.Bytes())
		if !bytes.Equal(escaped.Bytes(), want) {
			t.Errorf("rawObject:\n%s\nencoding/json:\n%s", escaped.Bytes(), want)
		}
	}
}
