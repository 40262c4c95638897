package ca

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCreateThenInspect(t *testing.T) {
	dir, res := sharedCA(t)
	if !res.Created || res.Adopted || res.Finished {
		t.Errorf("result %+v: want Created only", res)
	}
	if res.URL != "https://ca.test.internal:9000" {
		t.Errorf("URL %q", res.URL)
	}
	if res.GuestRoot != testGuest+"/"+RootCertFile {
		t.Errorf("GuestRoot %q", res.GuestRoot)
	}

	before := snapshot(t, dir)
	st, err := Inspect(dir, []byte(testPW))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != Valid || st.Reason != "" {
		t.Fatalf("status %s (%s), want valid", st.Status, st.Reason)
	}
	root, err := readCert(nil, hostPath(dir, RootCertFile), RootCertFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Fingerprint != Fingerprint(root) || st.Fingerprint != res.Fingerprint || len(st.Fingerprint) != 64 {
		t.Errorf("fingerprint %q, root file %q, result %q", st.Fingerprint, Fingerprint(root), res.Fingerprint)
	}
	if !st.Complete || st.GuestDir != testGuest || !st.ACME {
		t.Errorf("state %+v", st)
	}
	if want := "CN=Phoenix Test Root CA,O=Phoenix Test"; st.RootSubject != want {
		t.Errorf("root subject %q, want %q", st.RootSubject, want)
	}
	if d := time.Until(st.IntermediateNotAfter); d < 9*365*24*time.Hour {
		t.Errorf("intermediate expires in %s, want ~10 years", d)
	}
	if strings.Join(st.Provisioners, ",") != "admin (JWK),acme (ACME)" {
		t.Errorf("provisioners %q", st.Provisioners)
	}

	// A second look changes nothing and says the same.
	st2, err := Inspect(dir, []byte(testPW))
	if err != nil {
		t.Fatal(err)
	}
	if st2.Status != Valid || st2.Fingerprint != st.Fingerprint {
		t.Errorf("second inspect: %s %s", st2.Status, st2.Fingerprint)
	}
	if d := diffSnapshots(before, snapshot(t, dir)); d != "" {
		t.Errorf("Inspect changed files:\n%s", d)
	}

	// Modes and owners.
	for rel, mode := range map[string]os.FileMode{
		RootCertFile: 0o644, IntermediateCertFile: 0o644, DefaultsFile: 0o644,
		RootKeyFile: 0o600, IntermediateKeyFile: 0o600, ConfigFile: 0o600,
		"certs": 0o755, "secrets": 0o700, "config": 0o700, DBDir: 0o700,
	} {
		checkMode(t, hostPath(dir, rel), mode)
	}
	if exists(nil, hostPath(dir, StagingDir)) {
		t.Error("staging directory left behind")
	}

	// ca.json names the guest's paths, and no logger.
	var raw map[string]any
	if err := json.Unmarshal(mustRead(t, hostPath(dir, ConfigFile)), &raw); err != nil {
		t.Fatal(err)
	}
	db, _ := raw["db"].(map[string]any)
	for field, want := range map[string]any{
		"root": testGuest + "/certs/root_ca.crt", "crt": testGuest + "/certs/intermediate_ca.crt",
		"key": testGuest + "/secrets/intermediate_ca_key", "address": ":9000",
	} {
		if raw[field] != want {
			t.Errorf("ca.json %s = %v, want %v", field, raw[field], want)
		}
	}
	if db["dataSource"] != testGuest+"/db" || db["type"] != "badgerv2" {
		t.Errorf("ca.json db = %v", db)
	}
	if _, ok := raw["logger"]; ok {
		t.Error("ca.json has a logger (it would log tokens)")
	}
	body := string(mustRead(t, hostPath(dir, ConfigFile)))
	mustContain(t, "ca.json claims", body, `"defaultTLSCertDuration": "48h0m0s"`, `"maxTLSCertDuration": "720h0m0s"`)
	if strings.Contains(body, dir) {
		t.Error("ca.json names the host directory")
	}
	var defaults map[string]string
	if err := json.Unmarshal(mustRead(t, hostPath(dir, DefaultsFile)), &defaults); err != nil {
		t.Fatal(err)
	}
	if defaults["fingerprint"] != st.Fingerprint || defaults["root"] != testGuest+"/certs/root_ca.crt" {
		t.Errorf("defaults.json %v", defaults)
	}
}

func TestCreateRefusesAnExistingCA(t *testing.T) {
	dir := copyCA(t)
	before := snapshot(t, dir)
	_, err := Create(testOptions(dir))
	if err == nil {
		t.Fatal("Create over a valid CA succeeded")
	}
	mustContain(t, "error", err.Error(), "already holds a CA", "valid")
	if d := diffSnapshots(before, snapshot(t, dir)); d != "" {
		t.Errorf("Create changed files:\n%s", d)
	}
}

func TestCreateValidatesOptions(t *testing.T) {
	base := testOptions(filepath.Join(t.TempDir(), "ssl"))
	for name, tc := range map[string]struct {
		mod  func(*Options)
		want string
	}{
		"relative dir":    {func(o *Options) { o.Dir = "ssl" }, "absolute"},
		"guest root":      {func(o *Options) { o.GuestDir = "/" }, "guest_dir"},
		"no password":     {func(o *Options) { o.Password = nil }, "empty CA password"},
		"no prov pw":      {func(o *Options) { o.ProvisionerPassword = nil }, "empty provisioner password"},
		"no names":        {func(o *Options) { o.DNSNames = nil }, "dns_names"},
		"bad address":     {func(o *Options) { o.Address = "9000" }, "address"},
		"default > max":   {func(o *Options) { o.Durations = Durations{Default: 48 * time.Hour, Max: time.Hour} }, "exceeds"},
		"no provisioner":  {func(o *Options) { o.Provisioner = "" }, "provisioner name"},
		"empty name":      {func(o *Options) { o.Name = " " }, "empty name"},
		"negative minute": {func(o *Options) { o.Durations.Min = -time.Minute }, "negative"},
	} {
		t.Run(name, func(t *testing.T) {
			o := base
			tc.mod(&o)
			_, err := Create(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if exists(nil, o.Dir) && o.Dir == base.Dir {
				t.Errorf("invalid options created %s", o.Dir)
			}
		})
	}
}

func TestInspectMissing(t *testing.T) {
	st, err := Inspect(filepath.Join(t.TempDir(), "nope"), []byte(testPW))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != Missing || st.Exists() {
		t.Errorf("status %s, want missing", st.Status)
	}
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "password.txt"), []byte("x"), 0o600)
	st, err = Inspect(empty, []byte(testPW))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != Missing {
		t.Errorf("directory with only a password file: %s (%s), want missing", st.Status, st.Reason)
	}
	if _, err := Inspect(empty, nil); err == nil {
		t.Error("Inspect without a password succeeded")
	}
}
