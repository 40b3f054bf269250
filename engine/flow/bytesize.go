package flow

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// ByteSize is a size written as 512, 64KiB, 1MiB or 10MB.
type ByteSize int64

func (s *ByteSize) decode(d *decoder, n *yaml.Node) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "expected a size such as 1MiB, found %s", kindOfNode(n))
		return
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		d.errorf(n, "%q: %v", n.Value, err)
		return
	}
	*s = v
}

// ParseByteSize reads a size written as 512, 64KiB, 1MiB or 10MB.
func ParseByteSize(v string) (ByteSize, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	v = strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	var n int64
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n <= 0 || fmt.Sprint(n) != v {
		return 0, fmt.Errorf("not a size (write e.g. 512KiB or 1MiB)")
	}
	return ByteSize(n * mult), nil
}
