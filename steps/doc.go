// Package steps holds Stride's step kinds, one file per kind. Each file
// declares its config struct, validates and compiles it at load (Build)
// and runs it per message; it registers itself with the engine from init.
// Importing the package (cmd/stride does) makes every kind available.
package steps
