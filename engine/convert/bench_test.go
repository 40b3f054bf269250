package convert

import (
	"bytes"
	"fmt"
	"testing"
)

// benchDoc returns a realistic JSON document of about size bytes: a batch
// of wearable activity records with nested objects and arrays, strings
// that need escaping, integers and decimals.
func benchDoc(size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"batch":{"source":"tracker-api/v2","generated":"2026-03-01T08:00:00Z","records":[`)
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"userId":"u%05d","date":"2026-02-%02d","steps":%d,"distanceKm":%d.%03d,"calories":%d,`+
			`"active":%t,"note":"Walk \"around\" the <park> & lake \u00e9t\u00e9 \ud83c\udfc3","heartRate":{"resting":%d,"zones":[`+
			`{"name":"Fat Burn","min":94,"max":131,"minutes":%d},{"name":"Cardio","min":131,"max":159,"minutes":%d},`+
			`{"name":"Peak","min":159,"max":220,"minutes":0}]},"sleep":{"minutes":[%d,%d,%d],"efficiency":0.%02d},`+
			`"tags":["daily","synced"],"device":null}`,
			i, i%28+1, 8000+i*37%5000, i%12, i*7%1000, 1800+i%700, i%3 == 0, 55+i%20, i%90, i%40, 300+i%60, 60+i%30, 80+i%10, 70+i%29)
	}
	b.WriteString(`]}}`)
	return b.Bytes()
}

func BenchmarkJSONToXML(b *testing.B) {
	src := benchDoc(100 << 10)
	var dst bytes.Buffer
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		dst.Reset()
		if err := JSONToXML(&dst, src, JSONToXMLOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkXMLToJSON(b *testing.B) {
	var x bytes.Buffer
	if err := JSONToXML(&x, benchDoc(100<<10), JSONToXMLOptions{}); err != nil {
		b.Fatal(err)
	}
	src := x.Bytes()
	var dst bytes.Buffer
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		dst.Reset()
		if err := XMLToJSON(&dst, src, XMLToJSONOptions{Typed: true}); err != nil {
			b.Fatal(err)
		}
	}
}
