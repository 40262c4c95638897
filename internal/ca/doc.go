// Package ca keeps a private step-ca certificate authority in step's own
// directory layout, so that the upstream step CLI and step-ca can use what
// phoenix writes:
//
//	certs/root_ca.crt            0644
//	certs/intermediate_ca.crt    0644
//	secrets/root_ca_key          0600 (encrypted with the CA password)
//	secrets/intermediate_ca_key  0600 (encrypted with the CA password)
//	config/ca.json               0600 (names the guest's paths)
//	config/defaults.json         0644
//	db/                          0700 (badger, needed by ACME)
//	.phoenix-ca-complete         written last
//
// Reading is separated from changing, so that a plan can say what will
// happen before it happens: Inspect, InspectSource, PlanExport and
// CertState only read; Create, Adopt, Reissue, Backup, (*ExportPlan).Apply
// and (*Issuer).Apply change files.
//
// Crash safety: a new or adopted CA is built in a staging directory inside
// the CA directory and its children are renamed into place; the completion
// marker is written last. The CA directory itself is never replaced,
// because it is bind-mounted into a container and a bind mount follows the
// directory's inode. A run killed at any point leaves either no CA or a
// complete one, and Inspect reports a half-built one as Incomplete, never
// Invalid.
package ca
