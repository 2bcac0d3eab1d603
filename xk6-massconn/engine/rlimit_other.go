//go:build !unix

package engine

func fileLimit() (int, error) { return 0, nil }
