package site

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"phoenix/internal/machine"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The JSON Schemas in docs/schema and the key reference in docs/config.md
// are generated from the struct tags in types.go, the formats in
// formats.go and the schemaRule methods in check.go. These tests fail when
// a generated file is stale; `go test ./internal/site -run Generated
// -update` rewrites them.

var update = flag.Bool("update", false, "rewrite docs/schema/*.json and the reference in docs/config.md")

const (
	schemaDir = "../../docs/schema"
	docsFile  = "../../docs/config.md"
)

func schemaName(file string) string {
	return strings.TrimSuffix(file, ".json") + ".schema.json"
}

// vmidKeyPattern is the schema's form of a VMID key: exactly 100-999999999.
const vmidKeyPattern = "^[1-9][0-9]{2,8}$"

type schemaRuler interface{ schemaRule() string }

type schemaGen struct {
	defs map[string]any
}

func mustJSON(s string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic(fmt.Sprintf("bad schema JSON %s: %v", s, err))
	}
	return m
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/$defs/" + name} }

func (g *schemaGen) structRef(t reflect.Type) map[string]any {
	name := t.Name()
	if _, done := g.defs[name]; done {
		return ref(name)
	}
	g.defs[name] = nil // reserve: types may recur
	g.defs[name] = g.structSchema(t, false)
	return ref(name)
}

func (g *schemaGen) structSchema(t reflect.Type, root bool) map[string]any {
	si := infoOf(t)
	props := map[string]any{}
	var required []string
	for _, f := range si.fields {
		props[f.name] = g.field(t.Field(f.index).Type, f)
		if f.required {
			required = append(required, f.name)
		}
	}
	if root {
		props["$schema"] = map[string]any{"type": "string", "description": "Where editors find this schema."}
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	if r, ok := reflect.New(t).Elem().Interface().(schemaRuler); ok {
		for k, v := range mustJSON(r.schemaRule()) {
			s[k] = v
		}
	}
	return s
}

func (g *schemaGen) field(t reflect.Type, f *fieldInfo) map[string]any {
	s := g.typeSchema(t, f)
	if f.doc != "" {
		s["description"] = f.doc
	}
	if f.hasDef {
		switch t.Kind() {
		case reflect.Bool:
			s["default"] = f.def == "true"
		case reflect.Int:
			s["default"] = mustInt(f.def)
		default:
			s["default"] = f.def
		}
	}
	return s
}

// typeSchema is the schema of a value of type t under the tags of f.
func (g *schemaGen) typeSchema(t reflect.Type, f *fieldInfo) map[string]any {
	switch t {
	case addrType, prefixType, modeType, durationType, endpointType:
		name := f.format
		if name == "" {
			name = "ip"
		}
		return ref(name)
	}
	switch t.Kind() {
	case reflect.String:
		switch {
		case f.enum != nil:
			return map[string]any{"enum": f.enum}
		case f.format != "":
			return ref(f.format)
		}
		return map[string]any{"type": "string"}
	case reflect.Int:
		s := map[string]any{"type": "integer"}
		if f.hasMin {
			s["minimum"] = f.min
		}
		if f.hasMax {
			s["maximum"] = f.max
		}
		return s
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Slice:
		s := map[string]any{"type": "array", "items": g.typeSchema(t.Elem(), f)}
		if isScalar(t.Elem()) {
			s["uniqueItems"] = true
		}
		if f.nonempty {
			s["minItems"] = 1
		}
		return s
	case reflect.Map:
		s := map[string]any{"type": "object", "additionalProperties": g.typeSchema(t.Elem(), f)}
		if f.keyFormat != "" {
			s["propertyNames"] = ref(f.keyFormat)
		}
		if f.nonempty {
			s["minProperties"] = 1
		}
		return s
	case reflect.Pointer:
		return g.typeSchema(t.Elem(), f)
	case reflect.Struct:
		return g.structRef(t)
	}
	panic("no schema for " + t.String())
}

// addFormats copies every format referenced (transitively) into defs.
func (g *schemaGen) addFormats(root map[string]any) {
	rx := regexp.MustCompile(`"#/\$defs/([^"]+)"`)
	for {
		b, _ := json.Marshal([]any{root, g.defs})
		added := false
		for _, m := range rx.FindAllStringSubmatch(string(b), -1) {
			if _, ok := g.defs[m[1]]; ok {
				continue
			}
			fm, ok := formats[m[1]]
			if !ok {
				panic("schema refers to unknown format " + m[1])
			}
			g.defs[m[1]] = mustJSON(fm.schema)
			added = true
		}
		if !added {
			return
		}
	}
}

func buildSchema(file string) map[string]any {
	g := &schemaGen{defs: map[string]any{}}
	var s map[string]any
	switch file {
	case HypervisorFile:
		s = g.structSchema(reflect.TypeOf(Hypervisor{}), true)
		s["title"] = "phoenix hypervisor configuration"
	case LXCFile, VMFile:
		t, title := reflect.TypeOf(LXC{}), "phoenix LXC containers, by VMID"
		if file == VMFile {
			t, title = reflect.TypeOf(VM{}), "phoenix virtual machines, by VMID"
		}
		s = map[string]any{
			"title":                title,
			"type":                 "object",
			"properties":           map[string]any{"$schema": map[string]any{"type": "string", "description": "Where editors find this schema."}},
			"patternProperties":    map[string]any{vmidKeyPattern: g.structRef(t)},
			"additionalProperties": false,
		}
	}
	g.addFormats(s)
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$comment"] = "Generated from internal/site (go test ./internal/site -run Generated -update); do not edit."
	s["$defs"] = g.defs
	return s
}

func renderSchema(file string) []byte {
	b, err := json.MarshalIndent(buildSchema(file), "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

func TestGeneratedSchemas(t *testing.T) {
	for _, file := range Files {
		want := renderSchema(file)
		p := filepath.Join(schemaDir, schemaName(file))
		if *update {
			if err := os.MkdirAll(schemaDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := machine.WriteFileAtomic(p, want, 0o644, -1, -1); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (run: go test ./internal/site -run Generated -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go test ./internal/site -run Generated -update", p)
		}
	}
}

// The reference in docs/config.md: one table per file.

const (
	refBegin = "<!-- BEGIN REFERENCE: generated by go test ./internal/site -run Generated -update -->"
	refEnd   = "<!-- END REFERENCE -->"
)

type refRow struct{ key, typ, need, doc string }

func typeText(t reflect.Type, f *fieldInfo) string {
	switch t {
	case addrType, prefixType, modeType, durationType, endpointType:
		name := f.format
		if name == "" {
			name = "ip"
		}
		return formats[name].what
	}
	switch t.Kind() {
	case reflect.String:
		switch {
		case f.enum != nil:
			return "one of `" + strings.Join(f.enum, "`, `") + "`"
		case f.format != "":
			return formats[f.format].what
		}
		return "string"
	case reflect.Int:
		switch {
		case f.hasMin && f.hasMax:
			return fmt.Sprintf("integer %d-%d", f.min, f.max)
		case f.hasMin:
			return fmt.Sprintf("integer >= %d", f.min)
		}
		return "integer"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice:
		s := "list of " + typeText(t.Elem(), f)
		if isScalar(t.Elem()) {
			s += ", no repeats"
		}
		if f.nonempty {
			s = "non-empty " + s
		}
		return s
	case reflect.Map:
		s := "object: " + formats[f.keyFormat].what + " -> " + typeText(t.Elem(), f)
		if f.nonempty {
			s = "non-empty " + s
		}
		return s
	case reflect.Pointer:
		return typeText(t.Elem(), f)
	case reflect.Struct:
		return "object"
	}
	return t.String()
}

func refRows(t reflect.Type, prefix string, rows *[]refRow) {
	si := infoOf(t)
	for _, f := range si.fields {
		ft := t.Field(f.index).Type
		key := prefix + f.name
		need := "optional"
		switch {
		case f.required:
			need = "required"
		case f.hasDef:
			need = "default `" + f.def + "`"
		}
		*rows = append(*rows, refRow{"`" + key + "`", typeText(ft, f), need, f.doc})
		// Descend into objects.
		et, sub := ft, key
		for {
			switch et.Kind() {
			case reflect.Slice:
				et, sub = et.Elem(), sub+"[]"
				continue
			case reflect.Map:
				et, sub = et.Elem(), sub+".<"+mapKeyName(f)+">"
				continue
			case reflect.Pointer:
				et = et.Elem()
				continue
			}
			break
		}
		if et.Kind() == reflect.Struct && !isScalar(et) && et != durationType {
			refRows(et, sub+".", rows)
		}
	}
}

func mapKeyName(f *fieldInfo) string {
	switch f.name {
	case "nodes":
		return "node"
	case "bridges":
		return "bridge"
	case "storage":
		return "storage-id"
	case "zones":
		return "zone"
	case "exports":
		return "export"
	case "properties":
		return "property"
	}
	return "key"
}

func renderReference() string {
	var b strings.Builder
	b.WriteString(refBegin + "\n")
	for _, file := range Files {
		var rows []refRow
		var lead string
		switch file {
		case HypervisorFile:
			refRows(reflect.TypeOf(Hypervisor{}), "", &rows)
		case LXCFile:
			lead = "The file is an object keyed by VMID (100-999999999); each value is one container:\n\n"
			refRows(reflect.TypeOf(LXC{}), "<vmid>.", &rows)
		case VMFile:
			lead = "The file is an object keyed by VMID (100-999999999); each value is one virtual machine:\n\n"
			refRows(reflect.TypeOf(VM{}), "<vmid>.", &rows)
		}
		fmt.Fprintf(&b, "\n### %s\n\nSchema: [`docs/schema/%s`](schema/%s). Every file may also hold a `$schema` key naming its schema.\n\n%s", file, schemaName(file), schemaName(file), lead)
		b.WriteString("| Key | Type | Required | Meaning |\n|---|---|---|---|\n")
		for _, r := range rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.key, mdEscape(r.typ), r.need, mdEscape(r.doc))
		}
	}
	b.WriteString("\n" + refEnd)
	return b.String()
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

func TestGeneratedReference(t *testing.T) {
	doc, err := os.ReadFile(docsFile)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, refBegin), strings.Index(s, refEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q ... %q section", docsFile, refBegin, refEnd)
	}
	want := s[:i] + renderReference() + s[j+len(refEnd):]
	if *update {
		if err := machine.WriteFileAtomic(docsFile, []byte(want), 0o644, -1, -1); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != s {
		t.Errorf("%s: the key reference is stale: run go test ./internal/site -run Generated -update", docsFile)
	}
}

// Every key of the Go types is in its schema and vice versa; this guards
// the generator itself (a key it forgot would pass unnoticed otherwise).
func TestSchemaCoversEveryKey(t *testing.T) {
	for _, file := range Files {
		s := buildSchema(file)
		defs := s["$defs"].(map[string]any)
		var walk func(t reflect.Type, schema map[string]any)
		walk = func(rt reflect.Type, schema map[string]any) {
			si := infoOf(rt)
			props := schema["properties"].(map[string]any)
			var keys []string
			for k := range props {
				if k != "$schema" {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			goKeys := append([]string(nil), si.keys...)
			sort.Strings(goKeys)
			if fmt.Sprint(keys) != fmt.Sprint(goKeys) {
				t.Errorf("%s %s: schema keys %v, Go keys %v", file, rt.Name(), keys, goKeys)
			}
			if schema["additionalProperties"] != false {
				t.Errorf("%s %s: schema allows unknown keys", file, rt.Name())
			}
			for _, f := range si.fields {
				et := rt.Field(f.index).Type
				for et.Kind() == reflect.Slice || et.Kind() == reflect.Map || et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct && !isScalar(et) && et != durationType {
					walk(et, defs[et.Name()].(map[string]any))
				}
			}
		}
		switch file {
		case HypervisorFile:
			walk(reflect.TypeOf(Hypervisor{}), s)
		case LXCFile:
			walk(reflect.TypeOf(LXC{}), defs["LXC"].(map[string]any))
		case VMFile:
			walk(reflect.TypeOf(VM{}), defs["VM"].(map[string]any))
		}
	}
}
