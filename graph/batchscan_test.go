package graph

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// The streaming reader of $batch answers agrees with encoding/json on
// every answer small enough to keep whole: the same inner answers, or an
// error from both.
func FuzzReadBatchAnswer(f *testing.F) {
	for _, s := range []string{
		`{"responses":[{"id":"1","status":200,"headers":{"Content-Type":"application/json"},"body":{"id":"x","status":"running"}}]}`,
		`{"responses":[{"id":"1","status":429,"headers":{"Retry-After":"3"}},{"id":"2","status":200,"body":"eyJhIjoxfQ=="}]}`,
		`{"responses":null}`, `{"responses":[]}`, `{}`, `[]`, ``, `null`, `{"responses":[null]}`,
		`{"Responses":[{"ID":"1","Status":200,"Body":{"s":"a\"b\\\\"}}], "other": [1, {"x": "]"}]}`,
		`{"responses":[{"id":"1","status":200,"body":{"status":"runn`,
		`{"responses":[{"id":1}]}`, `{"responses":[{"id":"1","status":"200"}]}`, `{"responses":{}}`,
		`{"responses":[{"id":"1","status":429,"headers":{"Retry-After":"3","retry-after":"4","R\u0065try":"x\"y","Retry-After":"5"},"headers":{"b":"c"}}]}`,
		`{"responses":[{"id":"1","headers":{"a":1}},{"id":"2","headers":null},{"id":"3","headers":{}},{"id":"4","headers":[]}]}`,
		`{"responses":[]} x`, `{"responses":[],}`, `{"responses":[{"id":"1",}]}`, ` {"responses" : [ { "id" : "1" } ] } `,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := readBatchAnswer(strings.NewReader(s), int64(len(s)))
		// Read as it streams in, one byte at a time, with no size known:
		// the same.
		sgot, serr := readBatchAnswer(iotest.OneByteReader(strings.NewReader(s)), -1)
		if (err == nil) != (serr == nil) || !reflect.DeepEqual(got, sgot) {
			t.Fatalf("read whole: %+v, %v; streamed: %+v, %v", got, err, sgot, serr)
		}
		var want struct {
			Responses []struct {
				ID      string            `json:"id"`
				Status  int               `json:"status"`
				Headers map[string]string `json:"headers"`
				Body    json.RawMessage   `json:"body"`
			} `json:"responses"`
		}
		werr := json.Unmarshal([]byte(s), &want)
		if werr != nil {
			if err == nil && json.Valid([]byte(s)) {
				t.Fatalf("encoding/json: %v; the stream reader read it", werr)
			}
			return // both refuse, or the input is not JSON (which the reader may refuse later than encoding/json)
		}
		if err != nil {
			t.Fatalf("encoding/json read it; the stream reader: %v", err)
		}
		if len(got) != len(want.Responses) {
			t.Fatalf("%d responses, encoding/json %d", len(got), len(want.Responses))
		}
		for i, w := range want.Responses {
			g := got[i]
			var cg, cw bytes.Buffer
			_ = json.Compact(&cg, g.Body)
			_ = json.Compact(&cw, w.Body)
			if g.ID != w.ID || g.Status != w.Status || !reflect.DeepEqual(g.Headers(), w.Headers) || cg.String() != cw.String() {
				t.Fatalf("response %d: %+v, encoding/json %+v", i, g, w)
			}
		}
	})
}

// encoding/json counts the answer's own three levels against its limit of
// 10,000: a body may open 9,997 more, not 9,998.
func TestBatchAnswerDepthCountsTheOuterLevels(t *testing.T) {
	for _, depth := range []int{maxJSONDepth - 3, maxJSONDepth - 2} {
		s := `{"responses":[{"id":"1","status":200,"body":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}]}`
		_, err := readBatchAnswer(strings.NewReader(s), int64(len(s)))
		var want struct {
			Responses []struct {
				Body json.RawMessage `json:"body"`
			} `json:"responses"`
		}
		werr := json.Unmarshal([]byte(s), &want)
		if (err == nil) != (werr == nil) {
			t.Errorf("a body %d deep: read %v, encoding/json %v", depth, err, werr)
		}
	}
}
