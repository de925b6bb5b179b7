//go:build race

package main

// raceFlags are the build flags of this test binary that the go commands
// it runs repeat, so they reuse the build cache of the run that built it.
var raceFlags = []string{"-race"}
