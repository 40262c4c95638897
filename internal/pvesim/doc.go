// Package pvesim is a stateful, strict simulator of the Proxmox VE HTTP
// API: the backend behind phoenix --sim and "phoenix sim serve".
//
// It serves /api2/json over HTTPS with PVE's authentication (API tokens,
// tickets with CSRF tokens), validates parameters against its own
// hand-written table (checked against PVE's schema by the tests), keeps
// guests, configs with digests and pending changes, volumes and tasks, and
// answers with PVE's shapes and error lines. Faults can be injected for
// reliability tests, and a request counter shows how many calls a client
// made. docs/simulator.md lists what is simulated and what is not.
package pvesim
