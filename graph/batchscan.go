package graph

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// maxBatchAnswer bounds what is read of one $batch answer. Only the inner
// bodies up to MaxBodyBytes each are kept; a larger one is read past (so
// that the answers after it still count) and fails its own operation only.
const maxBatchAnswer = 256 << 20

// maxBatchField bounds an inner answer's id, status and headers.
const maxBatchField = 64 << 10

// batchResponse is one inner answer of a $batch.
type batchResponse struct {
	ID     string
	Status int
	// headers are the answer's headers objects as given (checked: each
	// reads as a map of strings, or null), read by Headers only for the
	// answers that need them: a 200's are never read.
	headers   []json.RawMessage
	Body      json.RawMessage
	Oversized bool // the body was larger than MaxBodyBytes, and not kept
}

// Headers are the answer's headers as json.Unmarshal reads them into a
// map[string]string, given twice or not.
func (r *batchResponse) Headers() map[string]string {
	var h map[string]string
	for _, raw := range r.headers {
		_ = json.Unmarshal(raw, &h) // checked when the answer was read
	}
	return h
}

var errBatchSyntax = errors.New("not a JSON batch answer")

// readBatchAnswer reads a $batch answer, {"responses": [...]}, as it
// streams in, keeping each inner body only up to MaxBodyBytes. It is as
// strict as encoding/json about what it keeps; keys match as encoding/json
// matches them, ignoring case. size is the answer's length if known (its
// Content-Length; else -1): the kept bodies and headers are copied into
// one buffer of about that size.
func readBatchAnswer(r io.Reader, size int64) ([]batchResponse, error) {
	s := scanners.Get().(*jsonScan)
	s.r.Reset(io.LimitReader(r, maxBatchAnswer))
	if size <= 0 {
		size = 8 << 10 // 20 operations' answers
	}
	s.bodies = make([]byte, 0, min(size, 256<<10))
	defer func() {
		s.r.Reset(nil)
		s.bodies = nil
		if cap(s.buf) > maxBatchField {
			s.buf = nil // a large body's room is not kept for every answer
		}
		scanners.Put(s)
	}()
	var out []batchResponse
	err := s.object(func(key string) error {
		if !strings.EqualFold(key, "responses") {
			_, _, err := s.value(0)
			return err
		}
		var err error
		out, err = s.responses()
		return err
	})
	if err != nil {
		return nil, err
	}
	if c, err := s.next(); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("%w: %q after the answer", errBatchSyntax, c)
		}
		return nil, err
	}
	return out, nil
}

// scanners read $batch answers, one per answer being read (a cold scrape
// of 50,000 operations reads 2,500), each with its 32 KiB read buffer.
var scanners = sync.Pool{New: func() any { return &jsonScan{r: bufio.NewReaderSize(nil, 32<<10)} }}

type jsonScan struct {
	r *bufio.Reader
	// buf is the value being read (value's answer, good until the next
	// value), limit what value keeps of it, over that it was longer.
	buf   []byte
	limit int
	over  bool
	// bodies holds the kept inner bodies and headers (kept), each a slice
	// of it.
	bodies []byte
}

// next returns the next byte that is not white space.
func (s *jsonScan) next() (byte, error) {
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c, nil
	}
}

func (s *jsonScan) unexpected(err error) error {
	if err == io.EOF {
		return fmt.Errorf("%w: %w", errBatchSyntax, io.ErrUnexpectedEOF)
	}
	return err
}

// object reads an object, calling field for each key with the reader at
// its value; null counts as an empty object.
func (s *jsonScan) object(field func(key string) error) error {
	c, err := s.next()
	if err != nil {
		return s.unexpected(err)
	}
	if c == 'n' {
		return s.literal("ull")
	}
	if c != '{' {
		return fmt.Errorf("%w: %q where an object was expected", errBatchSyntax, c)
	}
	for first := true; ; first = false {
		c, err := s.next()
		if err != nil {
			return s.unexpected(err)
		}
		if c == '}' && first {
			return nil
		}
		if !first {
			if c == '}' {
				return nil
			}
			if c != ',' {
				return fmt.Errorf("%w: %q between fields", errBatchSyntax, c)
			}
			if c, err = s.next(); err != nil {
				return s.unexpected(err)
			}
		}
		if c != '"' {
			return fmt.Errorf("%w: %q where a key was expected", errBatchSyntax, c)
		}
		_ = s.r.UnreadByte()
		raw, over, err := s.value(maxBatchField)
		if err != nil {
			return err
		}
		key, ok := keyOf(raw) // raw is a valid JSON string: encoding/json's reading of it
		if over || !ok {
			return fmt.Errorf("%w: unreadable key", errBatchSyntax)
		}
		if c, err = s.next(); err != nil || c != ':' {
			return fmt.Errorf("%w: no ':' after a key", errBatchSyntax)
		}
		if err := field(key); err != nil {
			return err
		}
	}
}

func (s *jsonScan) literal(rest string) error {
	for i := 0; i < len(rest); i++ {
		c, err := s.r.ReadByte()
		if err != nil || c != rest[i] {
			return fmt.Errorf("%w: a bad literal", errBatchSyntax)
		}
	}
	return nil
}

// responses reads the responses array (null: none).
func (s *jsonScan) responses() ([]batchResponse, error) {
	c, err := s.next()
	if err != nil {
		return nil, s.unexpected(err)
	}
	if c == 'n' {
		return nil, s.literal("ull")
	}
	if c != '[' {
		return nil, fmt.Errorf("%w: responses is not an array", errBatchSyntax)
	}
	out := make([]batchResponse, 0, MaxBatch)
	for first := true; ; first = false {
		c, err := s.next()
		if err != nil {
			return nil, s.unexpected(err)
		}
		if c == ']' && first {
			return out, nil
		}
		if !first {
			if c == ']' {
				return out, nil
			}
			if c != ',' {
				return nil, fmt.Errorf("%w: %q between responses", errBatchSyntax, c)
			}
		} else {
			_ = s.r.UnreadByte()
		}
		var r batchResponse
		err = s.object(func(key string) error {
			limit := maxBatchField
			isBody := strings.EqualFold(key, "body")
			if isBody {
				limit = MaxBodyBytes
			}
			raw, over, err := s.value(limit)
			if err != nil {
				return err
			}
			switch {
			case isBody && over:
				r.Body, r.Oversized = nil, true
				return nil
			case over:
				return fmt.Errorf("%w: an inner answer's %s is larger than %d bytes", errBatchSyntax, key, maxBatchField)
			case isBody:
				r.Body, r.Oversized = s.kept(raw), false
				return nil
			case strings.EqualFold(key, "id"):
				if raw[0] == '"' {
					r.ID, _ = keyOf(raw)
					return nil
				}
				return json.Unmarshal(raw, &r.ID) // null leaves it; anything else fails
			case strings.EqualFold(key, "status"):
				if n, ok := smallInt(raw); ok {
					r.Status = n
					return nil
				}
				return json.Unmarshal(raw, &r.Status)
			case strings.EqualFold(key, "headers"):
				if !stringsOrNull(raw) {
					// Not the usual shape: encoding/json says whether it
					// reads at all.
					var h map[string]string
					if err := json.Unmarshal(raw, &h); err != nil {
						return err
					}
				}
				r.headers = append(r.headers, s.kept(raw))
				return nil
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
}

// value reads one JSON value and returns it if it is no longer than limit
// (limit 0: nothing is kept); over says it was longer, and was read past.
// Kept values are checked as json.Valid checks them, and are good until
// the next value. Strings and the runs between brackets are read a buffer
// at a time, not byte by byte.
func (s *jsonScan) value(limit int) (raw []byte, over bool, err error) {
	s.buf, s.limit, s.over = s.buf[:0], limit, false
	c, err := s.next()
	if err != nil {
		return nil, false, s.unexpected(err)
	}
	s.keep([]byte{c})
	switch c {
	case '"':
		if err := s.stringRest(); err != nil {
			return nil, false, err
		}
	case '{', '[':
		for depth := 1; depth > 0; {
			if _, err := s.r.Peek(1); err != nil {
				return nil, false, s.unexpected(err)
			}
			b, _ := s.r.Peek(s.r.Buffered())
			i := bytes.IndexAny(b, `"{}[]`)
			if i < 0 {
				s.keep(b)
				_, _ = s.r.Discard(len(b))
				continue
			}
			c := b[i]
			s.keep(b[:i+1])
			_, _ = s.r.Discard(i + 1)
			switch c {
			case '"':
				if err := s.stringRest(); err != nil {
					return nil, false, err
				}
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
		}
	default:
		for {
			c, err := s.r.ReadByte()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, false, err
			}
			if strings.IndexByte(",}] \t\r\n", c) >= 0 {
				_ = s.r.UnreadByte()
				break
			}
			s.keep([]byte{c})
		}
	}
	if limit <= 0 || s.over {
		return nil, s.over, nil
	}
	// Every value kept is a key (a string) or sits in an inner answer,
	// three deep in the answer: {"responses":[{…: …}]}.
	if !validJSONDepth(s.buf, maxJSONDepth-3) {
		return nil, false, fmt.Errorf("%w: an invalid value", errBatchSyntax)
	}
	return s.buf, false, nil
}

// kept is a copy of raw, the value just read, that outlives the scan: in
// the answer's one buffer, capped so that no later copy can write into it.
func (s *jsonScan) kept(raw []byte) []byte {
	start := len(s.bodies)
	s.bodies = append(s.bodies, raw...)
	return s.bodies[start:len(s.bodies):len(s.bodies)]
}

// keep adds b to the value being read, unless it is over its limit.
func (s *jsonScan) keep(b []byte) {
	if s.over || s.limit <= 0 {
		return
	}
	if len(s.buf)+len(b) > s.limit {
		s.over = true
		return
	}
	s.buf = append(s.buf, b...)
}

// stringRest reads a string after its opening quote, through the closing
// one: a quote ends it unless an odd run of backslashes comes before.
func (s *jsonScan) stringRest() error {
	run := 0 // backslashes in a row just before what comes next
	for {
		chunk, err := s.r.ReadSlice('"')
		if err != nil && err != bufio.ErrBufferFull {
			return s.unexpected(err)
		}
		s.keep(chunk)
		if err == bufio.ErrBufferFull {
			run = backslashes(chunk, run)
			continue
		}
		if backslashes(chunk[:len(chunk)-1], run)%2 == 0 {
			return nil
		}
		run = 0 // an escaped quote
	}
}

// smallInt reads a JSON number of up to 9 digits, no sign, fraction or
// exponent (an HTTP status, a $batch request id), as json.Unmarshal into
// an int would.
func smallInt[T string | []byte](raw T) (int, bool) {
	if len(raw) == 0 || len(raw) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(raw); i++ {
		if !isDigit(raw[i]) {
			return 0, false
		}
		n = n*10 + int(raw[i]-'0')
	}
	return n, true
}

// backslashes is the run of backslashes at the end of b, counting prev
// ones before b if b is nothing but backslashes.
func backslashes(b []byte, prev int) int {
	n := 0
	for i := len(b) - 1; i >= 0 && b[i] == '\\'; i-- {
		n++
	}
	if n == len(b) {
		return prev + n
	}
	return n
}

// stringsOrNull says raw (valid JSON) is null or an object whose values
// are all strings: what json.Unmarshal reads into a map[string]string.
func stringsOrNull(raw []byte) bool {
	if string(raw) == "null" {
		return true
	}
	return eachMember(raw, func(_, v []byte) bool { return v[0] == '"' })
}

// keyOf is jsonString for the keys and ids of a $batch answer, without
// allocating for the ones every answer has.
func keyOf(raw []byte) (string, bool) {
	switch string(raw) { // compared, not copied
	case `"id"`:
		return "id", true
	case `"status"`:
		return "status", true
	case `"headers"`:
		return "headers", true
	case `"body"`:
		return "body", true
	case `"responses"`:
		return "responses", true
	}
	if len(raw) >= 3 && len(raw) <= 4 && raw[0] == '"' {
		if n, ok := smallInt(raw[1 : len(raw)-1]); ok && n >= 1 && n <= MaxBatch && raw[1] != '0' {
			return batchIDs[n], true
		}
	}
	return jsonString(raw)
}

// batchIDs are the ids batchOnce gives its requests, "1" to MaxBatch.
var batchIDs = func() (ids [MaxBatch + 1]string) {
	for i := 1; i <= MaxBatch; i++ {
		ids[i] = strconv.Itoa(i)
	}
	return ids
}()
