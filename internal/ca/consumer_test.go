package ca

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/smallstep/certificates/authority/config"
)

func TestStepDefaults(t *testing.T) {
	var got map[string]string
	if err := json.Unmarshal(StepDefaults("https://ca.test:9000", "ab12", "/etc/nginx/ca/root_ca.crt", "jwk"), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ca-url": "https://ca.test:9000", "fingerprint": "ab12", "root": "/etc/nginx/ca/root_ca.crt", "provisioner": "jwk"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if s := string(StepDefaults("https://ca.test", "ab12", "/r.crt", "")); strings.Contains(s, "provisioner") {
		t.Errorf("no provisioner given, still named:\n%s", s)
	}
}

// TestSetDNSNames: the names change, every other setting of a real
// ca.json stays, and the result still loads.
func TestSetDNSNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ssl")
	o := testOptions(dir)
	if _, err := Create(o); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, ConfigFile)
	before, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	out, err := SetDNSNames(before, []string{"ca.test.internal", "10.0.0.103"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, out, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadConfiguration(cfgPath)
	if err != nil {
		t.Fatalf("rewritten ca.json: %v", err)
	}
	if !reflect.DeepEqual(cfg.DNSNames, []string{"ca.test.internal", "10.0.0.103"}) {
		t.Errorf("dnsNames %v", cfg.DNSNames)
	}
	var a, b map[string]any
	json.Unmarshal(before, &a)
	json.Unmarshal(out, &b)
	delete(a, "dnsNames")
	delete(b, "dnsNames")
	if !reflect.DeepEqual(a, b) {
		t.Errorf("other settings changed:\nbefore %v\nafter  %v", a, b)
	}
	if _, err := SetDNSNames([]byte("{"), nil); err == nil || !strings.Contains(err.Error(), ConfigFile) {
		t.Errorf("broken ca.json: %v", err)
	}
}
