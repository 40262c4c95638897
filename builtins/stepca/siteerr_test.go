package stepca

import (
	"errors"
	"io/fs"
	"testing"

	"phoenix/runtime/runtimetest"
)

// siteErr rewrites host paths to site paths and keeps the cause.
func TestSiteErrKeepsCause(t *testing.T) {
	rt := runtimetest.New(t, runtimetest.Options{})
	cause := &fs.PathError{Op: "open", Path: rt.Root.Dir() + "/srv/ca/ca.json", Err: fs.ErrNotExist}
	err := siteErr(rt, "stepca.init", cause)
	if want := "stepca.init: open /srv/ca/ca.json: file does not exist"; err.Error() != want {
		t.Errorf("message %q, want %q", err.Error(), want)
	}
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe != cause {
		t.Errorf("the cause is lost: %#v", err)
	}
}
