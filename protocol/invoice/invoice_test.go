package invoice

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func newKey(t testing.TB) (crypto.PrivKey, peer.ID) {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return sk, id
}

func sample(t testing.TB) (*Invoice, crypto.PrivKey) {
	sk, id := newKey(t)
	_, hop := newKey(t)
	pre := [32]byte{1, 2, 3}
	inv := &Invoice{
		PaymentHash: sha256.Sum256(pre[:]),
		Amount:      123_456,
		CreatedAt:   time.UnixMilli(1_764_000_000_123),
		Expiry:      time.Hour,
		Payee:       id,
		Description: "1 MB of bandwidth ☕",
		RouteHints:  [][]Hop{{{Node: hop, ShortChannelID: 42, FeeBase: 1, FeePPM: 100, ExpiryDeltaMS: 30_000}}},
	}
	copy(inv.PaymentSecret[:], "secret-secret-secret-secret-32by")
	if err := inv.Sign(sk); err != nil {
		t.Fatal(err)
	}
	return inv, sk
}

func TestRoundTrip(t *testing.T) {
	inv, _ := sample(t)
	s, err := inv.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, "pm1") {
		t.Fatalf("text %q lacks the pm1 prefix", s)
	}
	got, err := Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.PaymentHash != inv.PaymentHash || got.PaymentSecret != inv.PaymentSecret || got.Amount != inv.Amount ||
		!got.CreatedAt.Equal(inv.CreatedAt) || got.Expiry != inv.Expiry || got.Payee != inv.Payee ||
		got.Description != inv.Description || len(got.RouteHints) != 1 || got.RouteHints[0][0] != inv.RouteHints[0][0] {
		t.Fatalf("round trip changed the invoice:\n got %+v\nwant %+v", got, inv)
	}
	// Upper case is the same invoice (QR codes prefer it).
	if _, err := Decode(strings.ToUpper(s)); err != nil {
		t.Fatalf("upper case: %v", err)
	}
	if !got.Pays([32]byte{1, 2, 3}) || got.Pays([32]byte{9}) {
		t.Fatal("Pays disagrees with the payment hash")
	}
}

func TestDecodeRejects(t *testing.T) {
	inv, _ := sample(t)
	good, _ := inv.Encode()

	// Re-sign a modified body with another key: checksum fine, signature not.
	forged := *inv
	forged.Amount = 1
	forgedText := bech32Encode(Prefix, append(forged.body(), inv.Signature...))

	flip := []byte(good)
	i := len(flip) / 2
	if flip[i] == 'q' {
		flip[i] = 'p'
	} else {
		flip[i] = 'q'
	}
	tests := []struct {
		name string
		text string
		want error
	}{
		{"typo", string(flip), ErrChecksum},
		{"truncated", good[:len(good)-1], ErrChecksum},
		{"forged amount", forgedText, ErrBadSignature},
		{"wrong prefix", bech32Encode("ln", append(inv.body(), inv.Signature...)), ErrMalformed},
		{"mixed case", "pM" + good[2:], ErrMalformed},
		{"too long", "pm1" + strings.Repeat("q", MaxTextLen), ErrMalformed},
		{"not bech32", "pm1bbbbbbbbbbbb", ErrMalformed},
		{"empty", "", ErrMalformed},
		{"trailing bytes", bech32Encode(Prefix, append(append(inv.body(), 0), inv.Signature...)), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode(tt.text); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSignRejects(t *testing.T) {
	other, _ := newKey(t)
	tests := []struct {
		name   string
		mutate func(*Invoice)
		key    crypto.PrivKey
	}{
		{"key not the payee's", func(*Invoice) {}, other},
		{"zero expiry", func(i *Invoice) { i.Expiry = 0 }, nil},
		{"expiry too long", func(i *Invoice) { i.Expiry = MaxExpiry + time.Millisecond }, nil},
		{"description too long", func(i *Invoice) { i.Description = strings.Repeat("x", MaxDescription+1) }, nil},
		{"description not UTF-8", func(i *Invoice) { i.Description = "\xff" }, nil},
		{"too many hints", func(i *Invoice) { i.RouteHints = make([][]Hop, MaxHints+1) }, nil},
		{"empty hint", func(i *Invoice) { i.RouteHints = [][]Hop{{}} }, nil},
		{"bad hint node", func(i *Invoice) { i.RouteHints[0][0].Node = "x" }, nil},
		{"hint ppm", func(i *Invoice) { i.RouteHints[0][0].FeePPM = 1_000_001 }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, sk := sample(t)
			tt.mutate(inv)
			if tt.key != nil {
				sk = tt.key
			}
			if err := inv.Sign(sk); err == nil {
				t.Fatal("Sign accepted a bad invoice")
			}
		})
	}
	var unsigned Invoice
	if _, err := unsigned.Encode(); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("Encode of unsigned invoice: %v", err)
	}
}

func TestExpiry(t *testing.T) {
	inv, _ := sample(t)
	if inv.Expired(inv.CreatedAt.Add(time.Hour - time.Millisecond)) {
		t.Fatal("expired before its time")
	}
	if !inv.Expired(inv.CreatedAt.Add(time.Hour)) {
		t.Fatal("not expired at its expiry")
	}
}

// BIP 173's valid test strings exercise the checksum alone.
func TestBech32Vectors(t *testing.T) {
	for _, s := range []string{
		"A12UEL5L",
		"an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
		"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
		"split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
	} {
		lower := strings.ToLower(s)
		sep := strings.LastIndexByte(lower, '1')
		five := make([]byte, 0)
		for i := sep + 1; i < len(lower); i++ {
			five = append(five, byte(charsetRev[lower[i]]))
		}
		if polymod(append(hrpExpand(lower[:sep]), five...)) != 1 {
			t.Errorf("checksum of BIP 173 vector %q does not verify", s)
		}
	}
}

func FuzzDecode(f *testing.F) {
	inv, _ := sample(f)
	good, _ := inv.Encode()
	f.Add(good)
	f.Add("pm1qqqqqqqqqqqq")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Decode(s)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same text, lower-cased.
		again, err := got.Encode()
		if err != nil {
			t.Fatalf("decoded invoice does not re-encode: %v", err)
		}
		if again != strings.ToLower(s) {
			t.Fatalf("re-encoding differs:\n%s\n%s", again, s)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	inv, _ := sample(b)
	s, _ := inv.Encode()
	for b.Loop() {
		if _, err := Decode(s); err != nil {
			b.Fatal(err)
		}
	}
}
