// Package web holds tickwire's browser side: the TypeScript client SDK
// (web/sdk, an npm project) and the demo page (web/site). The page is built
// with `npm run build` into web/site/dist, which is committed, so the Go
// binary embeds it and `go run ./cmd/tickwire serve` needs Go only.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed site/dist
var dist embed.FS

// Site returns the built demo page (index.html, app.js, style.css) as a
// file system rooted at web/site/dist.
func Site() fs.FS {
	sub, err := fs.Sub(dist, "site/dist")
	if err != nil {
		panic(err) // cannot happen: the directory is embedded
	}
	return sub
}

// Handler serves Site with headers suited to it: every response is
// revalidated (index.html names its assets with a content hash query, so
// a new build is picked up at once), MIME sniffing is off and the page may
// not be framed by other sites.
func Handler() http.Handler {
	files := http.FileServerFS(Site())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		files.ServeHTTP(w, r)
	})
}
