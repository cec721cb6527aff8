package integration

// Recorded differential tests, for commands newer than the redis-server the
// machine's packages give (Debian 12's 7.0.15): the corpora in
// testdata/diff74/*.txt (the format of testdata/diff, without !conn and
// !scan) were run once against a real redis-server of the version named
// in each file's header, built from Redis's sources, and its raw replies
// kept in the .golden file beside it. The test replays the corpus against
// Shoal and compares each reply with the recorded one under the step's
// directive, as TestDiffCorpus does with a live Redis.
//
// Recording again (after changing a corpus):
//
//	SHOAL_DIFF_RECORD=127.0.0.1:PORT go test ./integration/ -run TestDiffRecorded
//
// with a redis-server of that version listening on PORT (nothing of it is
// kept in the repository but the replies).

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// goldenReplies reads a .golden file: one "LINE QUOTED-RAW-REPLY" per step.
func goldenReplies(path string) (map[int][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[int][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		num, q, ok := strings.Cut(line, " ")
		step, err1 := strconv.Atoi(num)
		raw, err2 := strconv.Unquote(q)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s:%d: want LINE \"REPLY\"", path, n)
		}
		out[step] = []byte(raw)
	}
	return out, sc.Err()
}

// TestDiffRecorded replays testdata/diff74 against Shoal and compares with
// the replies recorded from the newer Redis (or records them: see above).
func TestDiffRecorded(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "diff74", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in testdata/diff74 (%v)", err)
	}
	record := os.Getenv("SHOAL_DIFF_RECORD")
	addr, name := record, "recording"
	if record == "" {
		addr, name = startTarget(t)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			steps, err := parseScript(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(steps) == 0 || !strings.EqualFold(steps[0].args[0], "flushall") {
				t.Fatalf("%s: the first command must be FLUSHALL", f)
			}
			golden := strings.TrimSuffix(f, ".txt") + ".golden"
			want := map[int][]byte{}
			if record == "" {
				if want, err = goldenReplies(golden); err != nil {
					t.Fatal(err)
				}
			}
			c := mustDial(t, addr)
			var out bytes.Buffer
			fmt.Fprintf(&out, "# Replies of %s, recorded by TestDiffRecorded (SHOAL_DIFF_RECORD); do not edit.\n", filepath.Base(f))
			for _, st := range steps {
				where := fmt.Sprintf("%s:%d", f, st.line)
				if st.conn != 0 || st.mode == modeScan {
					t.Fatalf("%s: !conn and !scan are not supported in recorded corpora", where)
				}
				var got []byte
				if st.proto != 0 {
					got, err = c.Hello(st.proto)
				} else {
					got, err = c.Do(st.args...)
				}
				if err != nil {
					t.Fatalf("%s: %s on %s: %v", where, st, name, err)
				}
				if record != "" {
					fmt.Fprintf(&out, "%d %s\n", st.line, strconv.Quote(string(got)))
					continue
				}
				ref, ok := want[st.line]
				if !ok {
					t.Fatalf("%s: no recorded reply (record the corpus again)", where)
				}
				mode := st.mode
				if st.proto != 0 {
					mode = modeAny
				}
				if d := compareReplies(mode, st.tol, ref, got); d != "" {
					t.Errorf("%s: %s: %s\n\trecorded: %q\n\t%s: %q", where, st, d, ref, name, got)
				}
			}
			if record != "" {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("recorded %d replies into %s", len(steps), golden)
			}
		})
	}
}
