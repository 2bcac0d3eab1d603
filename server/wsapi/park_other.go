//go:build !linux

package wsapi

import "log/slog"

// parker is a no-op away from Linux: every connection reads in its own
// gws read loop from the start.
type parker struct{}

func newParker(*slog.Logger) *parker { return &parker{} }

func (*parker) park(*session) bool   { return false }
func (*parker) remove(*session)      {}
func (*parker) close()               {}
func (*parker) sessions() []*session { return nil }
