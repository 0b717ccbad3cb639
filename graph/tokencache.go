package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
)

// MaxTokenCacheBytes caps what is read of a token cache file: one sign-in
// is a few kilobytes.
const MaxTokenCacheBytes = 1 << 20

// fileSig tells whether a file changed since it was last seen.
type fileSig struct {
	mod   int64 // Unix nanoseconds
	size  int64
	inode uint64
	ok    bool // the file existed
}

func sigOf(fi fs.FileInfo) fileSig {
	s := fileSig{mod: fi.ModTime().UnixNano(), size: fi.Size(), ok: true}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.inode = uint64(st.Ino)
	}
	return s
}

// fileCache is MSAL's token cache kept in a file (cache.ExportReplace).
// MSAL calls Replace before and Export after every token call. Replace
// reads the file only when it changed since it was last read or written
// (a `login` wrote a new sign-in); otherwise MSAL's own copy is the newer.
// Export writes only what changed, atomically (a temporary file renamed
// over the old one, mode 0600), so a crash never leaves half a cache.
type fileCache struct {
	path               string
	clientID, tenantID string
	// onWriteError is told when the file cannot be written. Export then
	// returns nil: the token in hand is good, and failing the token call
	// would not make the file writable.
	onWriteError func(error)

	mu     sync.Mutex
	seen   fileSig // the file as last read or written
	data   []byte  // what was last read or written
	loaded bool
}

// signature is the file's current signature.
func (f *fileCache) signature() fileSig {
	fi, err := os.Stat(f.path)
	if err != nil {
		return fileSig{}
	}
	return sigOf(fi)
}

// read reads and checks the file.
func (f *fileCache) read() ([]byte, error) {
	file, err := os.Open(f.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errors.New("does not exist")
		}
		return nil, fmt.Errorf("cannot be read: %w", pathless(err))
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %w", pathless(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("is not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(file, MaxTokenCacheBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %w", pathless(err))
	}
	if len(data) > MaxTokenCacheBytes {
		return nil, fmt.Errorf("is larger than %d bytes, which no token cache is", MaxTokenCacheBytes)
	}
	if err := InspectTokenCache(data, f.clientID, f.tenantID); err != nil {
		return nil, err
	}
	return data, nil
}

// Replace implements cache.ExportReplace.
func (f *fileCache) Replace(_ context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	sig := f.signature()
	if f.loaded && sig == f.seen {
		return nil
	}
	data, err := f.read()
	if err != nil {
		return fmt.Errorf("%s %w", f.path, err)
	}
	if err := u.Unmarshal(data); err != nil {
		return fmt.Errorf("%s is not an MSAL token cache: %w", f.path, err)
	}
	f.seen, f.data, f.loaded = sig, data, true
	return nil
}

// Export implements cache.ExportReplace.
func (f *fileCache) Export(_ context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	data, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.loaded && bytes.Equal(data, f.data) {
		return nil
	}
	if err := WriteFileAtomic(f.path, data); err != nil {
		if f.onWriteError != nil {
			f.onWriteError(err)
		}
		return nil
	}
	f.seen, f.data, f.loaded = f.signature(), data, true
	return nil
}

// WriteFileAtomic writes data to path through a temporary file in the
// same directory, synced and renamed over path: a reader sees the old
// file or the new one, never half of one. The file has mode 0600.
func WriteFileAtomic(path string, data []byte) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // after a successful rename there is nothing there
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(name, path)
}

// pathless is an *fs.PathError without its path, which the caller names.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// tokenCacheFile is the part of MSAL's cache format (shared by every MSAL)
// that says whose sign-in a cache holds.
type tokenCacheFile struct {
	Account map[string]struct {
		HomeAccountID string `json:"home_account_id"`
		Realm         string `json:"realm"`
		Username      string `json:"username"`
	} `json:"Account"`
	RefreshToken map[string]struct {
		HomeAccountID string `json:"home_account_id"`
		ClientID      string `json:"client_id"`
	} `json:"RefreshToken"`
}

// InspectTokenCache says why data is not a usable sign-in of clientID in
// tenantID (the tenant as the authority names it), or returns nil. Its
// errors name accounts, tenants and client ids, never a token.
func InspectTokenCache(data []byte, clientID, tenantID string) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("is empty")
	}
	var c tokenCacheFile
	if err := json.Unmarshal(data, &c); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("is not a token cache: not JSON (offset %d)", se.Offset)
		}
		return errors.New("is not a token cache: not an object of MSAL's cache format")
	}
	if len(c.Account) == 0 || len(c.RefreshToken) == 0 {
		return errNoSignIn
	}
	inTenant := map[string]string{} // home account id → user
	var realms []string
	for _, a := range c.Account {
		if strings.EqualFold(a.Realm, tenantID) {
			inTenant[a.HomeAccountID] = a.Username
		} else {
			realms = append(realms, a.Realm)
		}
	}
	if len(inTenant) == 0 {
		sort.Strings(realms)
		return fmt.Errorf("holds a sign-in for tenant %s, not %s", strings.Join(realms, ", "), tenantID)
	}
	var clients []string
	for _, rt := range c.RefreshToken {
		if _, ok := inTenant[rt.HomeAccountID]; !ok {
			continue
		}
		if strings.EqualFold(rt.ClientID, clientID) {
			return nil
		}
		clients = append(clients, rt.ClientID)
	}
	if len(clients) == 0 {
		return errNoSignIn
	}
	sort.Strings(clients)
	return fmt.Errorf("holds a sign-in for client id %s, not %s", strings.Join(clients, ", "), clientID)
}

// MemoryTokenCache is a token cache that lives in memory only (the demo's).
type MemoryTokenCache struct {
	mu   sync.Mutex
	data []byte
}

// Replace implements cache.ExportReplace.
func (m *MemoryTokenCache) Replace(_ context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		return nil
	}
	return u.Unmarshal(m.data)
}

// Export implements cache.ExportReplace.
func (m *MemoryTokenCache) Export(_ context.Context, c cache.Marshaler, _ cache.ExportHints) error {
	data, err := c.Marshal()
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.data = data
	m.mu.Unlock()
	return nil
}

// Bytes returns the cache as MSAL wrote it last.
func (m *MemoryTokenCache) Bytes() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.data...)
}
