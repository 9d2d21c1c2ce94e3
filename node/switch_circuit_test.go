package node

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/protocol/onion"
)

func testCircuit() *circuit {
	return &circuit{
		In: htlcRef{channel.ID{1, 2}, 7}, InPeer: peer.ID("peer-id-bytes"), InAmount: 1001,
		Out: htlcRef{channel.ID{3, 4}, 9}, OutAmt: 1000, Hash: channel.Hash{5}, Secret: onion.SharedSecret{6}, Created: 1_700_000_000_123,
	}
}

func TestCircuitRoundTrip(t *testing.T) {
	c := testCircuit()
	got, err := unmarshalCircuit(c.marshal())
	if err != nil {
		t.Fatal(err)
	}
	got.Out.ID = c.Out.ID // the store key holds it
	if *got != *c {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, c)
	}
	// With the preimage, once the outgoing HTLC is fulfilled.
	pre := channel.Hash{8, 9}
	c.Preimage = &pre
	got, err = unmarshalCircuit(c.marshal())
	if err != nil || got.Preimage == nil || *got.Preimage != pre || got.InPeer != c.InPeer {
		t.Fatalf("with preimage: %+v %v", got, err)
	}
	c.Preimage = nil
	// Records of the JSON form (before version 1) still read.
	j, _ := json.Marshal(circuitJSON{c.In.Ch[:], c.In.ID, []byte(c.InPeer), c.InAmount, c.Out.Ch[:], c.Out.ID, c.OutAmt, c.Hash[:], c.Secret[:], c.Created})
	old, err := unmarshalCircuit(j)
	if err != nil || *old != *c {
		t.Fatalf("JSON circuit: %+v %v", old, err)
	}
	for _, bad := range [][]byte{nil, {circuitV1}, c.marshal()[:160], c.marshal()[:170], append(c.marshal(), 1), append([]byte{2}, c.marshal()[1:]...), []byte("{}")} {
		if _, err := unmarshalCircuit(bad); err == nil {
			t.Errorf("accepted %x", bad)
		}
	}
}

func FuzzUnmarshalCircuit(f *testing.F) {
	f.Add(testCircuit().marshal())
	f.Add([]byte(`{"in_ch":"AA=="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := unmarshalCircuit(b)
		if err != nil || b[0] != circuitV1 {
			return
		}
		if !bytes.Equal(c.marshal(), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}
