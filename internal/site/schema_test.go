package site

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// compileSchemas compiles the published schemas (the files in docs/schema,
// not freshly generated ones: editors use those).
func compileSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// Without this, "format": "ipv6" would be an annotation only.
	c.AssertFormat()
	out := map[string]*jsonschema.Schema{}
	for _, file := range Files {
		p, err := filepath.Abs(filepath.Join(schemaDir, schemaName(file)))
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out[file] = s
	}
	return out
}

// schemaVerdict validates one file; nil means the schema accepts it.
func schemaVerdict(s *jsonschema.Schema, data []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

func TestSchemaAcceptsExample(t *testing.T) {
	schemas := compileSchemas(t)
	for name, data := range readExample(t) {
		if err := schemaVerdict(schemas[name], data); err != nil {
			t.Errorf("%s: schema rejects the example: %v", name, err)
		}
	}
}

// TestSchemaAgreesWithGo runs every defect of TestDefects through the
// schemas. Single-file defects must be rejected by the schema of the file
// that was changed. Defects marked go-only (comparisons a schema cannot
// express) and cross-file ones must pass every schema: that is the proof
// that only the Go validator catches them, as docs/config.md says.
func TestSchemaAgreesWithGo(t *testing.T) {
	schemas := compileSchemas(t)
	example := readExample(t)
	for _, d := range defects {
		t.Run(d.name, func(t *testing.T) {
			e := newSiteEdit(t)
			d.edit(e)
			files := e.files()
			verdicts := map[string]error{}
			for _, name := range Files {
				verdicts[name] = schemaVerdict(schemas[name], files[name])
			}
			switch d.schema {
			case schemaRejects, schemaSyntax:
				rejected := false
				for name, err := range verdicts {
					if err == nil {
						continue
					}
					rejected = true
					// A structured edit re-indents the file; compare content.
					if sameJSON(t, files[name], example[name]) {
						t.Errorf("%s: schema rejects the unchanged file: %v", name, err)
					}
				}
				if !rejected {
					t.Errorf("no schema rejects this defect")
				}
			case schemaGoOnly, schemaCross, schemaNone:
				for name, err := range verdicts {
					if err != nil {
						t.Errorf("%s: schema rejects a defect marked %s: %v", name, d.schema, err)
					}
				}
				if d.schema == schemaGoOnly && d.why == "" {
					t.Errorf("a go-only defect must say why a schema cannot catch it")
				}
			default:
				t.Fatalf("unknown schema verdict %q", d.schema)
			}
		})
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	va, err1 := jsonschema.UnmarshalJSON(bytes.NewReader(a))
	vb, err2 := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err1 != nil || err2 != nil {
		return false
	}
	return jsonEqual(va, vb)
}

func jsonEqual(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if !jsonEqual(v, b[k]) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !jsonEqual(a[i], b[i]) {
				return false
			}
		}
		return true
	default:
		return fmt.Sprintf("%T:%v", a, a) == fmt.Sprintf("%T:%v", b, b)
	}
}
