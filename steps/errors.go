package steps

import "fmt"

// errorf is fmt.Errorf; a name of its own keeps step files readable.
func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
