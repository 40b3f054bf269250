package runtime

import (
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// minGzipSize is the smallest body worth compressing: below about one
// packet, gzip's header and CPU cost more than the bytes saved.
const minGzipSize = 1024

// gzipWriters pools gzip writers. A gzip.Writer holds ~800 KB of
// compressor state; allocating one per response is the allocation storm
// that makes some engines collapse when clients send Accept-Encoding: gzip.
var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return w
}}

// acceptsGzip reports whether the request allows a gzip-encoded answer.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				return err == nil && q > 0 // q=0 (or 0.0, 0.000) refuses gzip
			}
		}
		return true
	}
	return false
}

// compressible reports whether a content type is worth compressing.
func compressible(contentType string) bool {
	ct := strings.ToLower(contentType)
	return strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json") || strings.Contains(ct, "xml") || strings.Contains(ct, "javascript")
}

// writeBody writes body, gzip-encoded when the client accepts it and it
// pays off. Headers must not have been written yet.
func writeBody(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	hdr := w.Header()
	if len(body) < minGzipSize || !acceptsGzip(r) || !compressible(hdr.Get("Content-Type")) || hdr.Get("Content-Encoding") != "" {
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
		return
	}
	hdr.Set("Content-Encoding", "gzip")
	hdr.Add("Vary", "Accept-Encoding")
	hdr.Del("Content-Length")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	gz := gzipWriters.Get().(*gzip.Writer)
	gz.Reset(w)
	_, _ = gz.Write(body)
	_ = gz.Close()
	gz.Reset(io.Discard) // drop the reference to w before pooling
	gzipWriters.Put(gz)
}
