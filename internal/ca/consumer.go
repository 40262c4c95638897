package ca

import (
	"encoding/json"
	"fmt"
)

// ExportDefaultsFile is step's defaults file inside an export: with
// STEPPATH set to the export, `step ca certificate` finds the CA, trusts
// its root and picks the provisioner with no flag and no prompt.
const ExportDefaultsFile = "config/defaults.json"

// StepDefaults is a step config/defaults.json for a consumer of the CA at
// caURL. step reads every key as the command-line flag of that name, and
// takes a relative path relative to its working directory, not to
// STEPPATH: root must be the path where the consumer sees the root
// certificate. provisioner may be empty.
func StepDefaults(caURL, fingerprint, root, provisioner string) []byte {
	b, _ := json.MarshalIndent(struct {
		CAURL       string `json:"ca-url"`
		Fingerprint string `json:"fingerprint"`
		Root        string `json:"root"`
		Provisioner string `json:"provisioner,omitempty"`
	}{caURL, fingerprint, root, provisioner}, "", "\t")
	return append(b, '\n')
}

// SetDNSNames returns caJSON (a ca.json) with its dnsNames set to names,
// every other setting kept. step-ca puts each name into its own TLS
// certificate, IP addresses as IP SANs.
func SetDNSNames(caJSON []byte, names []string) ([]byte, error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(caJSON, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigFile, err)
	}
	v, err := json.Marshal(names)
	if err != nil {
		return nil, err
	}
	cfg["dnsNames"] = v
	out, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigFile, err)
	}
	return append(out, '\n'), nil
}
