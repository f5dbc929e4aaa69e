package profile

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
)

var templateRecipe = &recipe{
	name:    "template",
	phases:  softwareTime | instanceTime,
	options: []string{"url", "input", "inline", "md5sum", "sha256sum", "output", "mode"},
	install: installTemplate,
}

var mkdirectoryRecipe = &recipe{
	name:      "mkdirectory",
	phases:    softwareTime | instanceTime,
	anyOption: true,
	install:   installMkdirectory,
}

// tree is where the current run writes.
func (r *runner) tree() *tree {
	if r.sw != nil {
		return r.sw.tree
	}
	return r.in.tree
}

func (r *runner) fetch() Fetcher {
	if r.sw != nil {
		return r.sw.o.Fetch
	}
	return r.in.fetch
}

// outputRel checks that an output path is inside the run's directory.
func (r *runner) outputRel(pt *part, option, p string) (string, error) {
	p = strings.TrimSpace(p)
	if p == "" {
		return "", pt.errf(option, ErrMissingOption, "recipe needs %s = <path>", option)
	}
	t := r.tree()
	if !filepath.IsAbs(p) {
		p = filepath.Join(t.dir, p)
	}
	rel, err := t.rel(p)
	if err != nil || rel == "." {
		return "", pt.errf(option, ErrOutsideDirectory, "%s must be a file inside %s", p, t.dir)
	}
	return rel, nil
}

// installTemplate renders a template: the file at url (or input), or the
// inline text, with ${section:option} substituted ("${:x}" is an option of
// the template's own section) and "$${" written "${".
func installTemplate(ctx context.Context, r *runner, pt *part) error {
	var sources []string
	for _, k := range []string{"url", "input", "inline"} {
		if _, ok := pt.sec.opts[k]; ok {
			sources = append(sources, k)
		}
	}
	if len(sources) != 1 {
		return pt.errf("url", ErrMissingOption, "recipe template needs exactly one of url, input (a file) or inline (the text); it has %d", len(sources))
	}
	rel, err := r.outputRel(pt, "output", pt.opts["output"])
	if err != nil {
		return err
	}
	mode, err := parseMode(pt, 0o644)
	if err != nil {
		return err
	}
	var text string
	if src := sources[0]; src == "inline" {
		text = pt.opts["inline"]
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
	} else {
		loc := strings.TrimSpace(pt.opts[src])
		if !hasScheme(loc) && !filepath.IsAbs(loc) {
			if o := pt.sec.opts[src]; o != nil && o.File != "" {
				if loc, err = resolve(o.File, loc); err != nil {
					return pt.errf(src, ErrFetch, "%v", err)
				}
			} else {
				return pt.errf(src, ErrBadValue, "%q is relative: write an absolute path or URL", loc)
			}
		}
		data, err := fetchText(ctx, r.fetch(), loc)
		if err != nil {
			return pt.errf(src, ErrFetch, "%s: %v", loc, err)
		}
		m, s := md5.Sum(data), sha256.Sum256(data)
		if err := checksums(pt, loc, hex.EncodeToString(m[:]), hex.EncodeToString(s[:]), false); err != nil {
			return err
		}
		canon, _ := canonical(loc)
		if canon == "" {
			canon = loc
		}
		text, err = r.ev.expand(string(data), pt.name, site{file: canon, line: 1, section: pt.name, option: src})
		if err != nil {
			return err
		}
	}
	if err := r.tree().writeFile(rel, []byte(text), mode); err != nil {
		return pt.wrap("output", err)
	}
	r.set(pt, "output", r.tree().abs(rel))
	return nil
}

// installMkdirectory creates every directory named by an option (except
// mode, which gives their permissions).
func installMkdirectory(ctx context.Context, r *runner, pt *part) error {
	def := os.FileMode(0o755)
	if r.in != nil {
		def = 0o750
	}
	mode, err := parseMode(pt, def)
	if err != nil {
		return err
	}
	for _, k := range mapKeys(pt.opts) {
		if k == "mode" || k == "recipe" || strings.HasPrefix(k, "_") {
			continue
		}
		rel, err := r.outputRel(pt, k, pt.opts[k])
		if err != nil {
			return err
		}
		if err := r.tree().mkdirAll(rel, mode); err != nil {
			return pt.wrap(k, err)
		}
	}
	return nil
}
