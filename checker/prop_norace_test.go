//go:build !race

package checker

// propRace is true in a -race build, where the property tests leave out
// their most expensive cases (see TestPropGeometryCorners) unless soaking.
const propRace = false
