package zfs

import (
	"errors"
	"phoenix/internal/machine"
	"strings"
)

// Sentinels a failed zfs command is classified as, for errors.Is. The
// classification reads libzfs's fixed English messages; anything else is
// only a *Error.
var (
	ErrNotExist       = errors.New("dataset does not exist")
	ErrExist          = errors.New("dataset already exists")
	ErrNoParent       = errors.New("parent does not exist")
	ErrHasChildren    = errors.New("dataset has children")
	ErrNewerSnapshots = errors.New("more recent snapshots exist")
)

// Error is a zfs command that ran and failed: its argv, exit code and
// stderr, through the embedded *machine.CommandError.
type Error struct {
	*machine.CommandError
}

func (e *Error) Unwrap() error { return e.CommandError }

// Is classifies the failure by its first stderr line.
func (e *Error) Is(target error) bool {
	msg := e.Stderr
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	switch target {
	case ErrNotExist:
		return strings.HasSuffix(msg, ": dataset does not exist")
	case ErrExist:
		return strings.HasSuffix(msg, ": dataset already exists")
	case ErrNoParent:
		return strings.HasSuffix(msg, ": parent does not exist") ||
			strings.Contains(msg, ": no such pool '")
	case ErrHasChildren:
		return strings.HasSuffix(msg, " has children")
	case ErrNewerSnapshots:
		return strings.HasSuffix(msg, ": more recent snapshots or bookmarks exist")
	}
	return false
}
