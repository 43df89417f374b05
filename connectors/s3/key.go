package s3

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// placeholders are the names a key template may use.
var placeholders = map[string]bool{"sync": true, "object": true, "date": true, "run": true, "batch": true}

// maxKeyBytes is S3's limit on the length of an object key.
const maxKeyBytes = 1024

// parseTemplate checks a key template and returns it with {batch} added when missing:
// each batch of a run is its own object, so without {batch} the second batch would
// overwrite the first. "-{batch}" goes before the extension (the literal ".ndjson.gz"
// at the end of the last path segment), so the objects keep their type for readers that
// go by the name.
func parseTemplate(t string) (string, error) {
	if strings.HasPrefix(t, "/") {
		return "", fmt.Errorf("%q starts with /; S3 keys are relative to the bucket (write exports/... not /exports/...)", t)
	}
	hasBatch := false
	for rest := t; rest != ""; {
		open, close := strings.IndexByte(rest, '{'), strings.IndexByte(rest, '}')
		if open < 0 {
			if close >= 0 {
				return "", fmt.Errorf("%q has a } without its {", t)
			}
			break
		}
		if close >= 0 && close < open {
			return "", fmt.Errorf("%q has a } without its {", t)
		}
		if close < 0 {
			return "", fmt.Errorf("%q has a { without its }", t)
		}
		name := rest[open+1 : close]
		if !placeholders[name] {
			return "", fmt.Errorf("%q uses unknown placeholder {%s} (known: {sync}, {object}, {date}, {run}, {batch})", t, name)
		}
		hasBatch = hasBatch || name == "batch"
		rest = rest[close+1:]
	}
	if strings.HasSuffix(t, "/") || t == "" {
		return "", fmt.Errorf("%q names a folder, not an object (end it with a file name such as {run}.ndjson.gz)", t)
	}
	if hasBatch {
		return t, nil
	}
	dir, base := "", t
	if i := strings.LastIndexByte(t, '/'); i >= 0 {
		dir, base = t[:i+1], t[i+1:]
	}
	// The extension starts at the first dot after which only literal text follows.
	ext := len(base)
	for i := len(base) - 1; i >= 0 && base[i] != '}'; i-- {
		if base[i] == '.' {
			ext = i
		}
	}
	return dir + base[:ext] + "-{batch}" + base[ext:], nil
}

// keyValues are what a key's placeholders stand for.
type keyValues struct {
	Sync, Object, Batch string
	Run                 int
	Date                time.Time
}

// renderKey fills in a template checked by parseTemplate. A '/' inside a value would
// add a folder level the template did not ask for, so it becomes '_'.
func renderKey(t string, v keyValues) (string, error) {
	clean := func(s string) string { return strings.ReplaceAll(s, "/", "_") }
	key := strings.NewReplacer(
		"{sync}", clean(v.Sync),
		"{object}", clean(v.Object),
		"{date}", v.Date.UTC().Format(time.DateOnly),
		"{run}", strconv.Itoa(v.Run),
		"{batch}", clean(v.Batch),
	).Replace(t)
	if len(key) > maxKeyBytes {
		return "", fmt.Errorf("object key %.60q... is %d bytes, over S3's limit of %d (shorten setting %s)",
			key, len(key), maxKeyBytes, SettingKeyTemplate)
	}
	return key, nil
}
