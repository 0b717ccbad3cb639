// Package graph reads Microsoft Graph long-running operations for the
// exporter: MSAL credentials (app-only and delegated, with the token cache
// file `login` writes), national clouds, and a Client that gets operations
// alone or in $batch requests of up to 20, lists collections for
// discovery, and throttles itself per tenant as Graph asks (Retry-After,
// x-ms-throttle-scope).
//
// operation.go holds the types that mirror Graph's JSON and the lenient
// parsing real answers need; kinds.go the operation kinds and how each
// maps its statuses; errors.go Graph's error model; retry.go the one
// retry and back-off policy, for single GETs and $batch alike. The bearer token goes
// to the tenant's Graph host and nowhere else (Client.MayCarryToken), and
// no error or log line holds a secret.
package graph
