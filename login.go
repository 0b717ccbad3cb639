package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/msgraph-lro/msgraph_lro_exporter/config"
	"github.com/msgraph-lro/msgraph_lro_exporter/graph"
)

// loginTimeout bounds a sign-in: a device code lives 15 minutes.
const loginTimeout = 15 * time.Minute

// login is the `login` command: it signs an account in for a tenant's
// delegated credential and writes the tenant's token cache file.
func login(configFile, tenant string, deviceCode bool, stdout, stderr *os.File) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "%s login: %s\n", program, fmt.Sprintf(format, args...))
		return 1
	}
	cfg, err := config.Load(configFile)
	if err != nil {
		return fail("%s", err)
	}
	t, ok := cfg.Tenant(tenant)
	if !ok {
		names := make([]string, 0, len(cfg.Tenants))
		for _, t := range cfg.Tenants {
			names = append(names, t.Name)
		}
		return fail("%s has no tenant %q; its tenants: %s", configFile, tenant, strings.Join(names, ", "))
	}
	if t.Delegated == nil {
		return fail("tenant %q has no delegated credential: add `delegated: {token_cache_file: …}` to it in %s, then run this again", tenant, configFile)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, loginTimeout)
	defer cancelT()

	how := "in a browser"
	if deviceCode {
		how = "by device code"
	}
	fmt.Fprintf(stdout, "Signing in %s for tenant %q (directory %s, app %s).\n", how, t.Name, t.TenantID, t.Delegated.ClientID)
	res, err := graph.Login(ctx, graph.LoginOptions{
		TenantID:                 t.TenantID,
		ClientID:                 t.Delegated.ClientID,
		AuthorityHost:            t.AuthorityHost,
		GraphEndpoint:            t.GraphEndpoint,
		DisableInstanceDiscovery: t.DisableInstanceDiscovery,
		CacheFile:                t.Delegated.TokenCacheFile,
		DeviceCode:               deviceCode,
		Out:                      stdout,
	})
	if err != nil {
		return fail("%s", err)
	}
	fmt.Fprintf(stdout, "Signed in as %s.\n", res.Username)
	fmt.Fprintf(stdout, "Delegated permissions granted: %s\n", strings.Join(res.Permissions, ", "))
	switch {
	case !res.RolesKnown:
		fmt.Fprintln(stdout, "Directory roles: not in the token; to read other users' password resets the account needs Global Reader, Authentication Administrator or Privileged Authentication Administrator.")
	case len(res.Roles) > 0:
		fmt.Fprintf(stdout, "Directory roles: %s\n", strings.Join(res.Roles, ", "))
	default:
		fmt.Fprintln(stdout, "Directory roles: none of Global Reader, Authentication Administrator, Privileged Authentication Administrator: only the account's own password resets can be read.")
	}
	fmt.Fprintf(stdout, "Token cache written to %s (mode 0600). A running exporter uses it at its next token request; its refresh token rotates, so the exporter must be able to write the file.\n", t.Delegated.TokenCacheFile)
	return 0
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
