package script

import (
	"sort"
	"strings"
)

// Registry is a set of loaded libraries (Redis's functions library
// context): library name → library, function name → its library.
// Function names are case-insensitive (funcs is keyed by the lower-case
// name), library names are not, as in Redis. A
// Registry is immutable: the changing methods return a new one (the old
// one stays valid for its readers), so a holder can publish it through an
// atomic pointer. The zero value and nil are empty registries.
type Registry struct {
	libs  map[string]*Library
	funcs map[string]*Library
}

// RestorePolicy is FUNCTION RESTORE's policy.
type RestorePolicy int

const (
	// RestoreAppend adds the libraries; a name collision is an error.
	RestoreAppend RestorePolicy = iota
	// RestoreReplace adds them, replacing libraries of the same name.
	RestoreReplace
	// RestoreFlush drops every library first.
	RestoreFlush
)

// Error texts of the registry (Redis 7.0's).
const (
	errLibNotFound = "ERR Library not found"
)

func (r *Registry) clone() *Registry {
	n := &Registry{libs: make(map[string]*Library), funcs: make(map[string]*Library)}
	if r != nil {
		for k, v := range r.libs {
			n.libs[k] = v
		}
		for k, v := range r.funcs {
			n.funcs[k] = v
		}
	}
	return n
}

// Len returns the number of libraries and of functions.
func (r *Registry) Len() (libs, funcs int) {
	if r == nil {
		return 0, 0
	}
	return len(r.libs), len(r.funcs)
}

// Library returns the library name.
func (r *Registry) Library(name string) (*Library, bool) {
	if r == nil {
		return nil, false
	}
	l, ok := r.libs[name]
	return l, ok
}

// Function returns the function name and its library.
func (r *Registry) Function(name string) (*Library, Function, bool) {
	if r == nil {
		return nil, Function{}, false
	}
	l, ok := r.funcs[strings.ToLower(name)]
	if !ok {
		return nil, Function{}, false
	}
	f, _ := l.Func(name)
	return l, f, true
}

// Libraries returns the libraries sorted by name.
func (r *Registry) Libraries() []*Library {
	if r == nil {
		return nil
	}
	out := make([]*Library, 0, len(r.libs))
	for _, l := range r.libs {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Codes returns the libraries' codes sorted by library name (what a
// snapshot or FUNCTION DUMP keeps).
func (r *Registry) Codes() [][]byte {
	libs := r.Libraries()
	out := make([][]byte, len(libs))
	for i, l := range libs {
		out[i] = l.Code
	}
	return out
}

// Load is FUNCTION LOAD [REPLACE] code: the new registry and the library
// name, or Redis's error text (checks in Redis's order: metadata, an
// existing library without replace, compiling and running the code, a
// function of another library with the same name).
func (r *Registry) Load(e *Engine, code []byte, replace bool) (*Registry, string, string) {
	name, msg := ParseLibraryMeta(code)
	if msg != "" {
		return r, "", msg
	}
	if _, ok := r.Library(name); ok && !replace {
		return r, "", "ERR Library '" + name + "' already exists"
	}
	lib, msg := e.LoadLibrary(code)
	if msg != "" {
		return r, "", msg
	}
	n := r.clone()
	if msg := n.add(lib, true); msg != "" {
		return r, "", msg
	}
	return n, name, ""
}

// add puts lib into r (which the caller owns), replacing a library of the
// same name when replace (else that is an error).
func (r *Registry) add(lib *Library, replace bool) string {
	if old, ok := r.libs[lib.Name]; ok {
		if !replace {
			return "ERR Library " + lib.Name + " already exists"
		}
		for _, f := range old.Funcs {
			delete(r.funcs, strings.ToLower(f.Name))
		}
	}
	for _, f := range lib.Funcs {
		if _, ok := r.funcs[strings.ToLower(f.Name)]; ok {
			return "ERR Function " + f.Name + " already exists"
		}
	}
	r.libs[lib.Name] = lib
	for _, f := range lib.Funcs {
		r.funcs[strings.ToLower(f.Name)] = lib
	}
	return ""
}

// Delete is FUNCTION DELETE name.
func (r *Registry) Delete(name string) (*Registry, string) {
	lib, ok := r.Library(name)
	if !ok {
		return r, errLibNotFound
	}
	n := r.clone()
	delete(n.libs, name)
	for _, f := range lib.Funcs {
		delete(n.funcs, strings.ToLower(f.Name))
	}
	return n, ""
}

// Restore is FUNCTION RESTORE with the libraries' codes (from a payload,
// ParseDump) and policy: all or nothing.
func (r *Registry) Restore(e *Engine, codes [][]byte, policy RestorePolicy) (*Registry, string) {
	// The payload's libraries load into a registry of their own first, as
	// Redis's temporary library context.
	tmp := (*Registry)(nil).clone()
	for _, code := range codes {
		var msg string
		if tmp, _, msg = tmp.Load(e, code, false); msg != "" {
			return r, msg
		}
	}
	if policy == RestoreFlush {
		return tmp, ""
	}
	n := r.clone()
	for _, lib := range tmp.Libraries() {
		if msg := n.add(lib, policy == RestoreReplace); msg != "" {
			return r, msg
		}
	}
	return n, ""
}

// FromCodes rebuilds a registry from codes (Codes of another registry:
// a snapshot's). A library that no longer loads is skipped and named in
// bad.
func FromCodes(e *Engine, codes [][]byte) (r *Registry, bad []string) {
	r = (*Registry)(nil).clone()
	for _, code := range codes {
		lib, msg := e.LoadLibrary(code)
		if msg == "" {
			msg = r.add(lib, false)
		}
		if msg != "" {
			name, _ := ParseLibraryMeta(code)
			bad = append(bad, name+": "+msg)
		}
	}
	return r, bad
}
