package onion

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// bolt04Dir returns shared/data/bolt04 beside the module root (the module
// root's parent holds shared/), or skips the test when the data is absent.
func bolt04Dir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd() // go test runs in the package directory
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("BOLT 4 test vectors: module root (go.mod) not found above the package")
		}
		dir = parent
	}
	data := filepath.Join(filepath.Dir(dir), "shared", "data", "bolt04")
	if _, err := os.Stat(filepath.Join(data, "onion-test.json")); err != nil {
		t.Skipf("BOLT 4 test vectors not found at %s (see shared/data/README.md): %v", data, err)
	}
	return data
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

type onionVector struct {
	Generate struct {
		SessionKey     string `json:"session_key"`
		AssociatedData string `json:"associated_data"`
		Hops           []struct {
			PubKey  string `json:"pubkey"`
			Payload string `json:"payload"`
		} `json:"hops"`
	} `json:"generate"`
	Onion  string   `json:"onion"`
	Decode []string `json:"decode"`
}

func loadOnionVector(t testing.TB) onionVector {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(bolt04Dir(t), "onion-test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v onionVector
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("onion-test.json: %v", err)
	}
	if len(v.Generate.Hops) == 0 || len(v.Generate.Hops) != len(v.Decode) {
		t.Fatalf("onion-test.json: %d hops, %d decode keys", len(v.Generate.Hops), len(v.Decode))
	}
	return v
}

// vectorHops turns the vector's hops into Hops. The vector's payloads carry
// their BigSize length prefix; Hop.Payload does not, so it is stripped (and
// checked to be exactly the payload's length).
func vectorHops(t testing.TB, v onionVector) []Hop {
	t.Helper()
	hops := make([]Hop, len(v.Generate.Hops))
	for i, h := range v.Generate.Hops {
		pub, err := secp256k1.ParsePubKey(unhex(t, h.PubKey))
		if err != nil {
			t.Fatalf("hop %d pubkey: %v", i, err)
		}
		framed := unhex(t, h.Payload)
		l, n, err := ReadBigSize(framed)
		if err != nil || int(l) != len(framed)-n {
			t.Fatalf("hop %d: payload length prefix %d (%v) vs %d bytes", i, l, err, len(framed)-n)
		}
		hops[i] = Hop{PubKey: pub, Payload: framed[n:]}
	}
	return hops
}

// TestBOLT4OnionVector builds the onion of onion-test.json and checks it byte
// for byte, then peels it hop by hop with the decode keys and checks each
// hop's payload, that each key's public key is the hop's, that only the last
// hop is final, and that the shared secrets agree with the origin's.
func TestBOLT4OnionVector(t *testing.T) {
	v := loadOnionVector(t)
	session := secp256k1.PrivKeyFromBytes(unhex(t, v.Generate.SessionKey))
	assoc := unhex(t, v.Generate.AssociatedData)
	hops := vectorHops(t, v)

	pkt, secrets, err := NewPacket(session, hops, assoc)
	if err != nil {
		t.Fatalf("NewPacket: %v", err)
	}
	want := unhex(t, v.Onion)
	got := pkt.Encode()
	if !bytes.Equal(got, want) {
		t.Fatalf("onion mismatch\n got %x\nwant %x", got, want)
	}

	wire := got
	for i, keyHex := range v.Decode {
		key := secp256k1.PrivKeyFromBytes(unhex(t, keyHex))
		if !key.PubKey().IsEqual(hops[i].PubKey) {
			t.Fatalf("hop %d: decode key does not match the hop's pubkey", i)
		}
		in, err := DecodePacket(wire)
		if err != nil {
			t.Fatalf("hop %d: decode: %v", i, err)
		}
		p, err := Peel(key, in, assoc)
		if err != nil {
			t.Fatalf("hop %d: peel: %v", i, err)
		}
		if !bytes.Equal(p.Payload, hops[i].Payload) {
			t.Errorf("hop %d payload\n got %x\nwant %x", i, p.Payload, hops[i].Payload)
		}
		if p.SharedSecret != secrets[i] {
			t.Errorf("hop %d: shared secret %x, origin has %x", i, p.SharedSecret, secrets[i])
		}
		last := i == len(v.Decode)-1
		if p.IsFinal() != last {
			t.Fatalf("hop %d: IsFinal=%v, want %v", i, p.IsFinal(), last)
		}
		if !last {
			wire = p.Next.Encode()
		}
	}
}

// TestBOLT4OnionVectorPayloads decodes every payload of the vector as a
// HopPayload: the first four are intermediate hops, the last is final with
// payment_data, and the second carries an unknown odd record (type 513) that
// must be skipped.
func TestBOLT4OnionVectorPayloads(t *testing.T) {
	v := loadOnionVector(t)
	hops := vectorHops(t, v)
	want := []struct {
		amt, expiry, scid uint64
		final             bool
	}{
		{15000, 1500, 1, false},
		{14000, 1400, 2, false},
		{12500, 1250, 3, false},
		{10000, 1000, 4, false},
		{10000, 1000, 0, true},
	}
	if len(want) != len(hops) {
		t.Fatalf("vector has %d hops, table %d", len(hops), len(want))
	}
	for i, w := range want {
		hp, err := DecodeHopPayload(hops[i].Payload)
		if err != nil {
			t.Fatalf("hop %d: %v", i, err)
		}
		if err := hp.Validate(w.final); err != nil {
			t.Errorf("hop %d: validate(final=%v): %v", i, w.final, err)
		}
		if hp.AmountToForward != w.amt || hp.OutgoingExpiry != w.expiry {
			t.Errorf("hop %d: amt %d expiry %d, want %d %d", i, hp.AmountToForward, hp.OutgoingExpiry, w.amt, w.expiry)
		}
		if !w.final && (!hp.HasShortChannelID || hp.ShortChannelID != w.scid) {
			t.Errorf("hop %d: scid %v/%d, want %d", i, hp.HasShortChannelID, hp.ShortChannelID, w.scid)
		}
		if w.final {
			if hp.PaymentData == nil || hp.PaymentData.TotalAmount != 10000 {
				t.Errorf("hop %d: payment data %+v", i, hp.PaymentData)
			}
		}
	}
}

type errorVector struct {
	Generate struct {
		SessionKey     string `json:"session_key"`
		FailureMessage string `json:"failure_message"`
		Hops           []struct {
			PubKey          string `json:"pubkey"`
			HopSharedSecret string `json:"hop_shared_secret"`
			AmmagKey        string `json:"ammag_key"`
			UmKey           string `json:"um_key"`
			Payload         string `json:"payload"`
		} `json:"hops"`
	} `json:"generate"`
	ErrorPacket string `json:"errorpacket"`
}

// TestBOLT4ErrorVector follows onion-error-test.json: the origin's shared
// secrets and each hop's ammag key match; the erring node (the last hop)
// derives the vector's um key and builds exactly the vector's unobfuscated
// payload; every hop on the way back, after peeling the forward onion with
// its own key, wraps the packet with its shared secret; the packet that
// reaches the origin is the vector's byte for byte; and the origin attributes
// it to the last hop with the vector's failure message.
func TestBOLT4ErrorVector(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(bolt04Dir(t), "onion-error-test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev errorVector
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("onion-error-test.json: %v", err)
	}
	ov := loadOnionVector(t) // the decode keys of the same five nodes
	if len(ev.Generate.Hops) != len(ov.Decode) {
		t.Fatalf("%d error hops, %d decode keys", len(ev.Generate.Hops), len(ov.Decode))
	}

	session := secp256k1.PrivKeyFromBytes(unhex(t, ev.Generate.SessionKey))
	hops := make([]Hop, len(ev.Generate.Hops))
	for i, h := range ev.Generate.Hops {
		pub, err := secp256k1.ParsePubKey(unhex(t, h.PubKey))
		if err != nil {
			t.Fatal(err)
		}
		hops[i] = Hop{PubKey: pub, Payload: []byte{0x02, 0x00}}
	}
	assoc := bytes.Repeat([]byte{0x42}, 32)
	pkt, secrets, err := NewPacket(session, hops, assoc)
	if err != nil {
		t.Fatal(err)
	}

	// Forward: each node peels with its key and keeps its shared secret.
	hopSecrets := make([]SharedSecret, len(hops))
	for i, keyHex := range ov.Decode {
		p, err := Peel(secp256k1.PrivKeyFromBytes(unhex(t, keyHex)), pkt, assoc)
		if err != nil {
			t.Fatalf("hop %d: %v", i, err)
		}
		hopSecrets[i] = p.SharedSecret
		pkt = p.Next
		h := ev.Generate.Hops[i]
		if got := hex.EncodeToString(secrets[i][:]); got != h.HopSharedSecret {
			t.Errorf("hop %d shared secret %s, want %s", i, got, h.HopSharedSecret)
		}
		if hopSecrets[i] != secrets[i] {
			t.Errorf("hop %d: node and origin secrets differ", i)
		}
		if k := generateKey(keyAmmag, secrets[i][:]); hex.EncodeToString(k[:]) != h.AmmagKey {
			t.Errorf("hop %d ammag %x, want %s", i, k, h.AmmagKey)
		}
	}

	last := len(hops) - 1
	erring := ev.Generate.Hops[last]
	if k := generateKey(keyUm, hopSecrets[last][:]); hex.EncodeToString(k[:]) != erring.UmKey {
		t.Errorf("um key %x, want %s", k, erring.UmKey)
	}
	failure := unhex(t, ev.Generate.FailureMessage)
	if got := errorPayload(failure, DefaultFailurePadding); !bytes.Equal(got, unhex(t, erring.Payload)) {
		t.Errorf("error payload\n got %x\nwant %s", got, erring.Payload)
	}

	// Backward: the erring node creates, then every hop wraps.
	ep, err := NewErrorPacket(hopSecrets[last], failure)
	if err != nil {
		t.Fatal(err)
	}
	for i := last - 1; i >= 0; i-- {
		ep = WrapError(hopSecrets[i], ep)
	}
	if want := unhex(t, ev.ErrorPacket); !bytes.Equal(ep, want) {
		t.Fatalf("error packet\n got %x\nwant %x", ep, want)
	}

	idx, msg, err := DecryptError(secrets, ep)
	if err != nil {
		t.Fatalf("DecryptError: %v", err)
	}
	if idx != last {
		t.Errorf("failing hop %d, want %d", idx, last)
	}
	if msg.Code != CodeTemporaryNodeFailure || !bytes.Equal(msg.Encode(), failure) {
		t.Errorf("failure %v (%x), want %x", msg.Code, msg.Encode(), failure)
	}
}
