package datefmt_test

import (
	"fmt"
	"time"
	_ "time/tzdata" // Europe/Berlin regardless of the host

	"github.com/stride-engine/stride/engine/datefmt"
)

func Example() {
	l, err := datefmt.Compile("yyyy-MM-dd'T'HH:mm:ss.SSSXXX")
	if err != nil {
		panic(err)
	}
	t := time.Date(2026, 11, 22, 7, 5, 9, 42_000_000, time.FixedZone("", 3600))
	fmt.Println(l.Format(t))

	back, err := l.Parse("2026-11-22T07:05:09.042+01:00", nil)
	fmt.Println(back.Equal(t), err)
	// Output:
	// 2026-11-22T07:05:09.042+01:00
	// true <nil>
}

func ExampleCompile_error() {
	_, err := datefmt.Compile("yyyy-MM-ddTHH:mm")
	fmt.Println(err)
	// Output:
	// date pattern "yyyy-MM-ddTHH:mm": unsupported letter 'T' at offset 10; quote literal text, e.g. 'T'
}

func ExampleLayout_Parse() {
	l := datefmt.MustCompile("dd.MM.yyyy HH:mm")
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	t, err := l.Parse("22.11.2026 07:05", berlin) // no offset in the pattern: wall clock in Berlin
	fmt.Println(t.UTC(), err)

	_, err = l.Parse("30.02.2026 07:05", berlin)
	fmt.Println(err)
	// Output:
	// 2026-11-22 06:05:00 +0000 UTC <nil>
	// parsing "30.02.2026 07:05" with date pattern "dd.MM.yyyy HH:mm": at offset 0: day of month 30 does not exist in February 2026
}

func ExampleFormatODataDate() {
	fmt.Println(datefmt.FormatODataDate(time.UnixMilli(1700000000000)))
	t, err := datefmt.ParseODataDate("/Date(1700000000000)/")
	fmt.Println(t, err)
	// Output:
	// /Date(1700000000000)/
	// 2023-11-14 22:13:20 +0000 UTC <nil>
}
