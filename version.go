package main

import (
	_ "embed"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/common/version"
)

// versionFile is VERSION, the one copy of the release number. make build,
// promu and the Dockerfile pass it with -ldflags; a plain go build gets it
// from here.
//
//go:embed VERSION
var versionFile string

// pseudoVersion matches a Go pseudo-version's date and commit
// (v0.0.0-20261201193000-ae11e79abcde, vX.Y.Z-0.2026…-…), which go build
// stamps from git and go install from a commit that carries no tag.
var pseudoVersion = regexp.MustCompile(`[.-](\d{14})-([0-9a-f]{12})(\+dirty)?$`)

// fillVersion fills what -ldflags left empty in prometheus/common/version
// from the build information Go records: the module version when it is a
// release (go install …@v0.2.0), else VERSION; the VCS revision or,
// without one (go install), the commit of a pseudo-version; the commit's time as the build date. It must run before
// anything reads the version: --version, the build_info metric, the
// landing page.
func fillVersion(bi *debug.BuildInfo, ok bool) {
	var modVersion, vcsTime, vcsRev string
	if ok {
		modVersion = bi.Main.Version
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.time":
				vcsTime = s.Value
			case "vcs.revision":
				vcsRev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if vcsRev != "" && modified {
			vcsRev += "-modified" // as version itself writes it
		}
	}
	pseudo := pseudoVersion.FindStringSubmatch(modVersion)
	if version.Version == "" {
		if modVersion != "" && modVersion != "(devel)" && pseudo == nil && !strings.HasSuffix(modVersion, "+dirty") {
			version.Version = strings.TrimPrefix(modVersion, "v")
		} else {
			version.Version = strings.TrimSpace(versionFile)
		}
	}
	if version.Revision == "" {
		switch {
		case vcsRev != "":
			version.Revision = vcsRev
		case pseudo != nil:
			version.Revision = pseudo[2]
		}
	}
	if version.BuildDate == "" {
		if t, err := time.Parse(time.RFC3339, vcsTime); err == nil {
			version.BuildDate = t.UTC().Format("20060102-15:04:05")
		} else if pseudo != nil {
			if t, err := time.Parse("20060102150405", pseudo[1]); err == nil {
				version.BuildDate = t.Format("20060102-15:04:05")
			}
		}
	}
}
