package datefmt

import (
	"testing"
	"time"
)

const benchPattern = "yyyy-MM-dd'T'HH:mm:ss"

func BenchmarkFormat(b *testing.B) {
	l := MustCompile(benchPattern)
	b.ReportAllocs()
	for b.Loop() {
		_ = l.Format(ref)
	}
}

func BenchmarkFormatMillisOffset(b *testing.B) {
	l := MustCompile("yyyy-MM-dd'T'HH:mm:ss.SSSXXX")
	b.ReportAllocs()
	for b.Loop() {
		_ = l.Format(ref)
	}
}

func BenchmarkAppendFormat(b *testing.B) {
	l := MustCompile(benchPattern)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = l.AppendFormat(buf[:0], ref)
	}
}

// BenchmarkTimeFormat is the standard library doing the same work, for
// comparison.
func BenchmarkTimeFormat(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = ref.Format("2006-01-02T15:04:05")
	}
}

func BenchmarkParse(b *testing.B) {
	l := MustCompile(benchPattern)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Parse("2026-11-22T07:05:09", time.UTC); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseMillisOffset(b *testing.B) {
	l := MustCompile("yyyy-MM-dd'T'HH:mm:ss.SSSXXX")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Parse("2026-11-22T07:05:09.042+01:00", time.UTC); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile("yyyy-MM-dd'T'HH:mm:ss.SSSXXX"); err != nil {
			b.Fatal(err)
		}
	}
}
