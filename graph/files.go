package graph

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// ReadRegularFile reads a file the configuration names (a secret, a
// certificate, a federated token, the configuration itself) through a size
// cap. Anything but a regular file is refused at once: a named pipe nobody
// writes would block the reload for ever, /dev/zero would grow memory
// without bound. Symbolic links are followed (Kubernetes mounts secrets
// through them).
func ReadRegularFile(path string, maxBytes int64) ([]byte, error) {
	// O_NONBLOCK: opening a named pipe for reading must not wait for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("read %s: is a directory", path)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, fileKind(fi.Mode()))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxBytes)
	}
	return data, nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeDevice != 0 || m&os.ModeCharDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	}
	return m.Type().String()
}

// MaxCredentialFileBytes caps a secret, certificate or federated token file.
const MaxCredentialFileBytes = 1 << 20
