//go:build !engine

package impl

// Placeholders until the engine lands (build tag "engine" selects it).
type request struct{}
type step uint8
type metaWrite struct{}
