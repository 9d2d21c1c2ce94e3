package routing

import (
	"math"
	"testing"
	"unsafe"

	"pgregory.net/rapid"
)

// TestInEdgeSize pins the search index entry at 24 bytes per directed edge.
func TestInEdgeSize(t *testing.T) {
	if n := unsafe.Sizeof(inEdge{}); n != 24 {
		t.Fatalf("inEdge is %d bytes, want 24", n)
	}
}

func TestPackMax(t *testing.T) {
	for _, h := range []uint64{0, 1, 1023, 1024, 1025, 2047, 2048, 1<<40 + 12345, math.MaxUint64 - 1, math.MaxUint64} {
		lo := unpackMax(packMax(h))
		if lo > h || h-lo > h>>(maxMantBits-1) {
			t.Errorf("unpackMax(packMax(%d)) = %d: want at most it, by less than 1/512", h, lo)
		}
		if h < 1<<maxMantBits && lo != h {
			t.Errorf("unpackMax(packMax(%d)) = %d: small values are exact", h, lo)
		}
	}
}

// TestInEdgeAdmits checks that the index's approximate HTLC limits, with
// their fallback to the edge record, decide exactly as the limits do.
func TestInEdgeAdmits(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		bound := func(label string) uint64 {
			return rapid.OneOf(rapid.Uint64Range(0, 4096), rapid.Uint64(), rapid.Uint64Range(0, 1<<40)).Draw(t, label)
		}
		capacity := max(bound("capacity"), 1)
		hmax := bound("htlcMax")
		hmin := bound("htlcMin")
		if hmax != 0 && hmin > hmax {
			hmin, hmax = hmax, hmin
		}
		g := NewGraph()
		p := &Policy{HTLCMin: hmin, HTLCMax: hmax}
		if err := g.UpsertChannel(ChannelInfo{ID: 1, Node1: "a", Node2: "b", Capacity: capacity, Policy: [2]*Policy{p, p}}); err != nil {
			t.Fatal(err)
		}
		s := g.Snapshot()
		e := s.edges.at(0)
		ie := makeIn(1, 0, e, false)
		for i := range 8 {
			var a uint64
			switch rapid.IntRange(0, 3).Draw(t, "kind") {
			case 0:
				a = rapid.Uint64().Draw(t, "a")
			case 1:
				a = e.htlcMin + rapid.Uint64Range(0, 2048).Draw(t, "a") - 1024
			case 2:
				a = e.htlcMax + rapid.Uint64Range(0, 2048).Draw(t, "a") - 1024
			default:
				a = uint64(i)
			}
			want := a >= e.htlcMin && a <= e.htlcMax
			if got := ie.admits(s, a); got != want {
				t.Fatalf("admits(%d) = %v with limits [%d, %d], want %v", a, got, e.htlcMin, e.htlcMax, want)
			}
		}
	})
}
