package ca

import (
	"path/filepath"
	"testing"
	"time"
)

// A certificate signed in process chains to the CA's root, covers the
// SANs asked for and is then unchanged, as one the CA issued would be; a
// wrong CA password signs nothing.
func TestSignLocal(t *testing.T) {
	dir, _ := sharedCA(t)
	out := t.TempDir()
	uid, gid := owner()
	req := CertRequest{
		CAURL: "https://ca.test.internal:9000", Root: hostPath(dir, RootCertFile), Provisioner: testProv,
		Password: []byte(testProvPW), Subject: "gw.test.internal", SANs: []string{"gw.test.internal", "10.0.0.101"},
		Cert: filepath.Join(out, "gw.crt"), Key: filepath.Join(out, "gw.key"), UID: uid, GID: gid,
	}
	now := time.Now()
	res, err := SignLocal(dir, []byte(testPW), req, 0, CertIssue, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != CertIssue || !res.NotAfter.After(now.Add(DefaultLeafLife-time.Minute)) {
		t.Errorf("result %+v", res)
	}
	st, err := CertState(req, now)
	if err != nil {
		t.Fatal(err)
	}
	if st.Action != CertUnchanged || st.Serial != res.Serial {
		t.Errorf("after SignLocal: %s (%s), serial %s want %s", st.Action, st.Reason, st.Serial, res.Serial)
	}
	checkMode(t, req.Key, modeKey)
	checkMode(t, req.Cert, modeCert)
	if _, err := SignLocal(dir, []byte("wrong"), req, 0, CertIssue, now); err == nil {
		t.Error("signed with a wrong CA password")
	}
}
