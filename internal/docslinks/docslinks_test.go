package docslinks

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// skipDirs are not documentation: dependencies, build output, run results,
// and docs-pending/, whose texts are written for the files they will be
// merged into.
var skipDirs = map[string]bool{
	".git": true, "node_modules": true, "bin": true, "results": true, "docs-pending": true,
}

var (
	fence      = regexp.MustCompile("^\\s*(```|~~~)")
	inlineCode = regexp.MustCompile("`[^`]*`")
	// [text](target) and ![alt](target); the target ends at a space (a
	// title) or the closing parenthesis.
	mdLink  = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	heading = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("%s is not the repository root: %v", root, err)
	}
	return root
}

// TestRelativeLinksResolve walks every Markdown file of the repository.
func TestRelativeLinksResolve(t *testing.T) {
	root := repoRoot(t)
	anchors := map[string]map[string]bool{} // file -> its heading slugs
	slugsOf := func(path string) (map[string]bool, error) {
		if a, ok := anchors[path]; ok {
			return a, nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		a := headingSlugs(string(b))
		anchors[path] = a
		return a, nil
	}
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if skipDirs[d.Name()] {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".md") {
			return nil
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		for _, l := range links(string(b)) {
			if msg := check(path, l.target, slugsOf); msg != "" {
				t.Errorf("%s:%d: link %q: %s", rel, l.line, l.target, msg)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Fatalf("found %d Markdown files under %s: the walk is broken", files, root)
	}
}

type link struct {
	line   int
	target string
}

// links returns the link targets of a Markdown text outside code.
func links(text string) []link {
	var out []link
	inFence := false
	for i, line := range strings.Split(text, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		line = inlineCode.ReplaceAllString(line, "")
		for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
			out = append(out, link{i + 1, m[1]})
		}
	}
	return out
}

// check returns what is wrong with target, a link in the file at from, or "".
func check(from, target string, slugsOf func(string) (map[string]bool, error)) string {
	if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
		return ""
	}
	path, frag, _ := strings.Cut(target, "#")
	dest := from
	if path != "" {
		dest = filepath.Join(filepath.Dir(from), filepath.FromSlash(path))
		if _, err := os.Stat(dest); err != nil {
			return "no such file"
		}
	}
	if frag == "" || !strings.HasSuffix(dest, ".md") {
		return ""
	}
	slugs, err := slugsOf(dest)
	if err != nil {
		return err.Error()
	}
	if !slugs[frag] {
		return fmt.Sprintf("no heading with the anchor #%s in %s", frag, filepath.Base(dest))
	}
	return ""
}

// headingSlugs returns the anchors GitHub gives a file's headings: the
// heading's text lower-cased, without punctuation, spaces as hyphens, a
// repeated one suffixed -1, -2, ...
func headingSlugs(text string) map[string]bool {
	slugs := map[string]bool{}
	seen := map[string]int{}
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		m := heading.FindStringSubmatch(line)
		if inFence || m == nil {
			continue
		}
		s := slug(m[1])
		if n := seen[s]; n > 0 {
			slugs[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			slugs[s] = true
		}
		seen[s]++
	}
	return slugs
}

var linkText = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)

func slug(h string) string {
	h = linkText.ReplaceAllString(h, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestSlug(t *testing.T) {
	for _, tt := range []struct{ heading, want string }{
		{"Against your own server", "against-your-own-server"},
		{"`massconn.share(total)` → number", "massconnsharetotal--number"},
		{"The extension's engine", "the-extensions-engine"},
		{"nginx+nchan and massconn-server side by side at 19,000 connections", "nginxnchan-and-massconn-server-side-by-side-at-19000-connections"},
		{"2026-12-07", "2026-12-07"},
		{"What `make test` checks of the deployment files", "what-make-test-checks-of-the-deployment-files"},
	} {
		if got := slug(tt.heading); got != tt.want {
			t.Errorf("slug(%q) = %q, want %q", tt.heading, got, tt.want)
		}
	}
	got := headingSlugs("# A\n## A\n```\n# B\n```\n### A\n")
	for _, want := range []string{"a", "a-1", "a-2"} {
		if !got[want] {
			t.Errorf("headingSlugs: no %q in %v", want, got)
		}
	}
	if got["b"] {
		t.Error("headingSlugs took a line inside a code block for a heading")
	}
}
