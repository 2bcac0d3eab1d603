//go:build !unix

package engine

func reasonOf(error) reasonID { return rOther }
