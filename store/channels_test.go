package store

import (
	"errors"
	"fmt"
	"testing"
)

func TestChannelLogAppendLoadCompact(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	log := s.Channels()
	a, b := [32]byte{1}, [32]byte{2}
	rec := func(i int) []byte { return []byte(fmt.Sprintf("rec-%d", i)) }
	if err := log.Append([]ChannelAppend{
		{ID: a, Records: [][]byte{rec(0), rec(1)}},
		{ID: b, Records: [][]byte{rec(0)}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := log.Append([]ChannelAppend{{ID: a, Records: [][]byte{rec(2)}, Compact: []byte("snap"), Checkpoint: []byte("ck"), CheckpointSeq: 7}}); err != nil {
		t.Fatal(err)
	}
	if err := log.Append([]ChannelAppend{{ID: a, Records: [][]byte{rec(3)}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	log = s.Channels()
	ids, err := log.IDs()
	if err != nil || len(ids) != 2 || ids[0] != a || ids[1] != b {
		t.Fatalf("IDs = %x, %v", ids, err)
	}
	got, err := log.Load(a)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"snap", "rec-3"}
	if len(got) != len(want) {
		t.Fatalf("channel a has %d live records, want %d", len(got), len(want))
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Fatalf("record %d = %q, want %q", i, got[i], want[i])
		}
	}
	// Appends continue after the loaded end.
	if err := log.Append([]ChannelAppend{{ID: a, Records: [][]byte{rec(4)}}}); err != nil {
		t.Fatal(err)
	}
	got, _ = log.Load(a)
	if len(got) != 3 || string(got[2]) != "rec-4" {
		t.Fatalf("after append: %q", got)
	}
	cks, err := log.Checkpoints(a)
	if err != nil || len(cks) != 1 || string(cks[0]) != "ck" {
		t.Fatalf("checkpoints = %q, %v", cks, err)
	}
	if _, err := log.Load([32]byte{9}); !errors.Is(err, ErrNoChannel) {
		t.Fatalf("unknown channel: %v", err)
	}
}
