package profile

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Fetcher opens what a location names: an absolute local path, a file://
// URL, or an http(s):// URL. The caller closes the returned reader.
type Fetcher func(ctx context.Context, location string) (io.ReadCloser, error)

// DefaultHTTPTimeout bounds one HTTP download of DefaultFetch, body included.
const DefaultHTTPTimeout = 30 * time.Minute

var httpClient = &http.Client{Timeout: DefaultHTTPTimeout}

// DefaultFetch reads local files and file:// URLs from the filesystem and
// http(s):// URLs with a GET (non-2xx answers are errors).
func DefaultFetch(ctx context.Context, location string) (io.ReadCloser, error) {
	if isHTTP(location) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
		if err != nil {
			return nil, err
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode/100 != 2 {
			resp.Body.Close()
			return nil, fmt.Errorf("GET %s: %s", location, resp.Status)
		}
		return resp.Body, nil
	}
	p, err := localPath(location)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

func isHTTP(loc string) bool {
	return strings.HasPrefix(loc, "http://") || strings.HasPrefix(loc, "https://")
}

// hasScheme reports whether loc looks like a URL (scheme://…).
func hasScheme(loc string) bool {
	i := strings.Index(loc, "://")
	if i <= 0 {
		return false
	}
	for _, c := range loc[:i] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// localPath turns a file:// URL or an absolute path into a clean path.
func localPath(loc string) (string, error) {
	if strings.HasPrefix(loc, "file://") {
		u, err := url.Parse(loc)
		if err != nil {
			return "", fmt.Errorf("location %q: %v", loc, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return "", fmt.Errorf("location %q: a file URL must not name a host", loc)
		}
		loc = u.Path
	} else if hasScheme(loc) {
		return "", fmt.Errorf("location %q: scheme not supported, expected a local path, file://, http:// or https://", loc)
	}
	if !filepath.IsAbs(loc) {
		return "", fmt.Errorf("location %q is relative: expected an absolute path or a URL", loc)
	}
	return filepath.Clean(loc), nil
}

// canonical returns the form of loc used as its identity (cycle detection,
// error messages): a clean absolute path for local files, the URL otherwise.
func canonical(loc string) (string, error) {
	if isHTTP(loc) {
		u, err := url.Parse(loc)
		if err != nil {
			return "", fmt.Errorf("location %q: %v", loc, err)
		}
		return u.String(), nil
	}
	return localPath(loc)
}

// resolve resolves ref against the canonical location of the file that
// names it. Absolute paths and URLs are returned as they are.
func resolve(from, ref string) (string, error) {
	if hasScheme(ref) || filepath.IsAbs(ref) {
		return canonical(ref)
	}
	if isHTTP(from) {
		base, err := url.Parse(from)
		if err != nil {
			return "", err
		}
		r, err := url.Parse(ref)
		if err != nil {
			return "", fmt.Errorf("location %q: %v", ref, err)
		}
		return base.ResolveReference(r).String(), nil
	}
	return filepath.Join(filepath.Dir(from), ref), nil
}

// baseLocation is the directory (or directory URL, without trailing slash)
// of a canonical location: the value of _profile_base_location_.
func baseLocation(loc string) string {
	if isHTTP(loc) {
		u, err := url.Parse(loc)
		if err != nil {
			return loc
		}
		u.RawQuery, u.Fragment = "", ""
		u.Path = path.Dir(u.Path)
		if u.Path == "/" || u.Path == "." {
			u.Path = ""
		}
		return u.String()
	}
	return filepath.Dir(loc)
}

// confinedFetch serves URLs with next and reads local files only inside
// dirs, through an os.Root: at instance time the agent (root) must not read
// a file the software release or the partition's user points it to
// elsewhere, nor follow a link they planted out of their directory.
func confinedFetch(next Fetcher, dirs ...string) Fetcher {
	return func(ctx context.Context, loc string) (io.ReadCloser, error) {
		if isHTTP(loc) {
			return next(ctx, loc)
		}
		p, err := localPath(loc)
		if err != nil {
			return nil, err
		}
		for _, d := range dirs {
			rel, err := filepath.Rel(d, p)
			if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				continue
			}
			root, err := os.OpenRoot(d)
			if err != nil {
				return nil, err
			}
			defer root.Close()
			return root.Open(rel)
		}
		return nil, fmt.Errorf("%s is outside %s: an instance profile may only read files of its software or its partition", p, strings.Join(dirs, " and "))
	}
}

// worldReadableFetch serves URLs with next and reads a local file only when
// every user could (the file readable by others, its directories
// searchable by others): a build for an unprivileged user must not read,
// through the agent running as root, what that user could not.
func worldReadableFetch(next Fetcher) Fetcher {
	return func(ctx context.Context, loc string) (io.ReadCloser, error) {
		if isHTTP(loc) {
			return next(ctx, loc)
		}
		p, err := localPath(loc)
		if err != nil {
			return nil, err
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, err
		}
		for d := filepath.Dir(real); ; d = filepath.Dir(d) {
			fi, err := os.Stat(d)
			if err != nil {
				return nil, err
			}
			if fi.Mode().Perm()&0o001 == 0 {
				return nil, fmt.Errorf("%s: directory %s is not searchable by every user (mode %v)", p, d, fi.Mode().Perm())
			}
			if d == filepath.Dir(d) {
				break
			}
		}
		f, err := os.Open(real)
		if err != nil {
			return nil, err
		}
		fi, err := f.Stat()
		if err == nil && (!fi.Mode().IsRegular() || fi.Mode().Perm()&0o004 == 0) {
			err = fmt.Errorf("%s is not a file readable by every user (mode %v)", p, fi.Mode())
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}
}
