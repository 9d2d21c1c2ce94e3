package onion

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// bolt4TraceDigests pins the error packets of BOLT 4's "Test Vector /
// Returning Errors" trace (04-onion-routing.md, the lines "error packet for
// node 4" down to "error packet for node 0"): each entry is the SHA-256 of the
// packet as printed there, computed from the spec text with a one-line Python
// script (hashlib.sha256(bytes.fromhex(line))). Hashes keep the 1060-byte
// packets out of the repository while still comparing them byte for byte.
var bolt4TraceDigests = [5]string{
	4: "af9de55ab5c9355f9a438f96035a3d45be936b06d2383419457430db3d80db3b",
	3: "929b5202b7cddf44137ab09c9c9cce0b58d9d4d48d85d020a0dc1784527e56d3",
	2: "d7023647b46913b9c2ddc4f60178b1ced9e87cdb07fb16d25f0778f1d1d11efb",
	1: "325918ac1a2c14568c50ad5493b60cec6b05b66278121f48a47a0de6cf675f2e",
	0: "0709ced8da7a15dae982a2c0edfe44fefa1a2aab5db8e207f63890455799ec07",
}

// TestBOLT4ErrorTrace replays the spec's error trace: node 4 fails with
// incorrect_or_unknown_payment_details (htlc_msat 100, height 800000, and an
// extra TLV record of type 34001 holding 300 bytes of 0x80), padded so that
// failure_len + pad_len is 1024 as in the trace; the packet leaving every node
// on the way back must be the spec's, byte for byte; the origin attributes it
// to node 4 and decodes the same message.
func TestBOLT4ErrorTrace(t *testing.T) {
	v := loadOnionVector(t) // same session key, nodes and keys as the trace
	session := secp256k1.PrivKeyFromBytes(unhex(t, v.Generate.SessionKey))
	hops := vectorHops(t, v)
	_, secrets, err := NewPacket(session, hops, unhex(t, v.Generate.AssociatedData))
	if err != nil {
		t.Fatal(err)
	}

	msg := &FailureMessage{
		Code:       CodeIncorrectOrUnknownPaymentDetails,
		HTLCAmount: 100,
		Height:     800000,
		Extra:      AppendRecord(nil, 34001, bytes.Repeat([]byte{0x80}, 300)),
	}
	enc := msg.Encode()
	// The trace's encoded_failure_message starts so and is 320 bytes long.
	if p := "400f0000000000000064000c3500fd84d1fd012c80"; hex.EncodeToString(enc[:len(p)/2]) != p || len(enc) != 320 {
		t.Fatalf("encoded failure %x (%d bytes)", enc, len(enc))
	}

	last := len(secrets) - 1
	ep, err := NewErrorPacketPadded(secrets[last], enc, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for i := last; i >= 0; i-- {
		if i < last {
			ep = WrapError(secrets[i], ep)
		}
		sum := sha256.Sum256(ep)
		if got := hex.EncodeToString(sum[:]); got != bolt4TraceDigests[i] {
			t.Fatalf("error packet leaving node %d: sha256 %s, want %s\npacket %x", i, got, bolt4TraceDigests[i], ep)
		}
	}

	idx, got, err := DecryptError(secrets, ep)
	if err != nil {
		t.Fatal(err)
	}
	if idx != last || !bytes.Equal(got.Encode(), enc) || got.HTLCAmount != 100 || got.Height != 800000 {
		t.Fatalf("decrypted hop %d message %+v", idx, got)
	}
}
