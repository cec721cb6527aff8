package server

// --aclfile: users loaded at start, ACL SAVE and ACL LOAD, in Redis's ACL
// file format (one "user <name> <rule> ..." line per user, '#' comments).
//
// In cluster mode the map holds the users: a node whose map has none yet
// seeds it from its file (internal/node), ACL LOAD replaces the cluster's
// users with the file's, and ACL SAVE writes this node's users (the
// cluster's) to this node's file.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoalcache/shoal/command"
)

// readACLFile parses an ACL file into user states by name. A file without
// the default user leaves it out (the node keeps its own).
func readACLFile(path string) (map[string]*userState, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	users := map[string]*userState{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if f[0] != "user" {
			return nil, fmt.Errorf("%s:%d: line should start with user keyword", path, i+1)
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("%s:%d: user name missing", path, i+1)
		}
		if _, dup := users[f[1]]; dup {
			return nil, fmt.Errorf("%s:%d: Duplicate user '%s' found", path, i+1, f[1])
		}
		st, rule, why := applyRules(newUserState(), f[2:])
		if st == nil {
			return nil, fmt.Errorf("%s:%d: Error in applying operation '%s': %s", path, i+1, rule, why)
		}
		users[f[1]] = st
	}
	return users, nil
}

// loadACLFileAtStart loads --aclfile into the table (New).
func (s *Server) loadACLFileAtStart() error {
	users, err := readACLFile(s.acl.file)
	if err != nil {
		return fmt.Errorf("aclfile: %w", err)
	}
	s.acl.mu.Lock()
	defer s.acl.mu.Unlock()
	if _, ok := users["default"]; !ok {
		users["default"] = s.acl.def.st.Load()
	}
	s.replaceUsersLocked(users, false)
	return nil
}

// ACLFileUsers returns the users of --aclfile as ACL LIST lines, without
// the default user unless the file names it (nil without a file): what a
// cluster node seeds an empty map with.
func (s *Server) ACLFileUsers() ([]string, error) {
	if s.acl.file == "" {
		return nil, nil
	}
	users, err := readACLFile(s.acl.file)
	if err != nil {
		return nil, err
	}
	return editLines(nil, func(m map[string]*userState) error {
		for n, st := range users {
			m[n] = st
		}
		return nil
	})
}

// aclSaveCommand: ACL SAVE.
func aclSaveCommand(x *command.Ctx, args [][]byte) {
	s := srvOf(x)
	if s.acl.file == "" {
		x.Err(command.ErrACLNoFile)
		return
	}
	if err := writeACLFile(s.acl.file, s.aclLines()); err != nil {
		x.Err(command.Sanitize([]byte("ERR There was an error trying to save the ACLs. Please check the server logs for more information")))
		s.log.Warn("acl save failed", "file", s.acl.file, "err", err)
		return
	}
	x.OK()
}

// writeACLFile writes lines to path through a temporary file renamed over
// it, as Redis does.
func writeACLFile(path string, lines []string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.WriteString(strings.Join(lines, "\n") + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// aclLoadCommand: ACL LOAD. Replaces every user with the file's (in
// cluster mode, cluster-wide); the default user keeps its rules when the
// file does not name it.
func aclLoadCommand(x *command.Ctx, args [][]byte) {
	s := srvOf(x)
	if s.acl.file == "" {
		x.Err(command.ErrACLNoFile)
		return
	}
	users, err := readACLFile(s.acl.file)
	if err != nil {
		x.Err(command.Sanitize([]byte("ERR " + err.Error())))
		return
	}
	err = aclChange(x, func(m map[string]*userState) error {
		def := m["default"]
		for n := range m {
			delete(m, n)
		}
		for n, st := range users {
			m[n] = st.clone()
		}
		if _, ok := m["default"]; !ok && def != nil {
			m["default"] = def
		}
		return nil
	})
	if err != nil {
		aclReplyErr(x, err)
		return
	}
	x.OK()
}
