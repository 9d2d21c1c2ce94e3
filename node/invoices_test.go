package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paymesh/paymesh/api"
	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/protocol/invoice"
)

func newInvoice(t *testing.T, n *Node, amount uint64, expiry time.Duration) *InvoiceRecord {
	t.Helper()
	r, err := n.CreateInvoice(amount, "test", expiry, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func ref(ch byte, id uint64) HTLCRef { return HTLCRef{Channel: [32]byte{ch}, ID: id} }

// settleStep is one HTLC presented to settleInvoiceHTLC.
type settleStep struct {
	name     string
	inv      string // key of the invoice paid, "" = an unknown hash
	badSec   bool   // present a wrong payment secret
	amount   uint64
	total    uint64
	htlc     HTLCRef
	at       time.Duration // after the invoices were created
	want     settleAction
	wantErr  error     // the reject reason
	wantRels []HTLCRef // the HTLCs released on fulfill
}

func runSettleSteps(t *testing.T, n *Node, invs map[string]*InvoiceRecord, t0 time.Time, steps []settleStep) {
	t.Helper()
	for _, s := range steps {
		var hash, secret [32]byte
		var inv *invoice.Invoice
		if s.inv != "" {
			inv = invs[s.inv].Invoice
			hash, secret = inv.PaymentHash, inv.PaymentSecret
		} else {
			hash = sha256.Sum256([]byte(s.name))
		}
		if s.badSec {
			secret[0] ^= 1
		}
		pre, d, err := n.settleInvoiceHTLC(hash, secret, s.amount, s.total, s.htlc, t0.Add(s.at))
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if d.Action != s.want {
			t.Fatalf("%s: action %v (reason %v), want %v", s.name, d.Action, d.Reason, s.want)
		}
		if s.want == settleReject && !errors.Is(d.Reason, s.wantErr) {
			t.Fatalf("%s: reason %v, want %v", s.name, d.Reason, s.wantErr)
		}
		if s.want == settleFulfill {
			if !inv.Pays(pre) {
				t.Fatalf("%s: preimage %x does not pay the invoice", s.name, pre)
			}
			if !sameRefs(d.Release, s.wantRels) {
				t.Fatalf("%s: release %v, want %v", s.name, d.Release, s.wantRels)
			}
		} else if pre != ([32]byte{}) || d.Release != nil {
			t.Fatalf("%s: %v decision carries preimage %x and release %v", s.name, d.Action, pre, d.Release)
		}
	}
}

func sameRefs(a, b []HTLCRef) bool {
	key := func(r HTLCRef) string { return string(r.Channel[:]) + string(rune(r.ID)) }
	sa, sb := slices.Clone(a), slices.Clone(b)
	slices.SortFunc(sa, func(x, y HTLCRef) int { return strings.Compare(key(x), key(y)) })
	slices.SortFunc(sb, func(x, y HTLCRef) int { return strings.Compare(key(x), key(y)) })
	return slices.Equal(sa, sb)
}

func TestSettleInvoiceHTLC(t *testing.T) {
	n := startDir(t, initDir(t))
	invs := map[string]*InvoiceRecord{
		"single": newInvoice(t, n, 1000, time.Hour),
		"short":  newInvoice(t, n, 1000, time.Minute),
		"mpp":    newInvoice(t, n, 1000, time.Hour),
		"any":    newInvoice(t, n, 0, time.Hour),
		"cancel": newInvoice(t, n, 10, time.Hour),
	}
	if _, err := n.CancelInvoice(invs["cancel"].Invoice.PaymentHash); err != nil {
		t.Fatal(err)
	}
	t0 := invs["mpp"].Invoice.CreatedAt
	steps := []settleStep{
		{name: "unknown hash", amount: 1000, htlc: ref(1, 0), want: settleReject, wantErr: ErrUnknownInvoice},
		{name: "wrong secret", inv: "single", badSec: true, amount: 1000, htlc: ref(1, 1), want: settleReject, wantErr: ErrInvoiceSecret},
		{name: "amount below", inv: "single", amount: 999, htlc: ref(1, 2), want: settleReject, wantErr: ErrInvoiceAmount},
		{name: "declared total below", inv: "single", amount: 500, total: 999, htlc: ref(1, 3), want: settleReject, wantErr: ErrInvoiceAmount},
		{name: "zero amount", inv: "any", amount: 0, htlc: ref(1, 4), want: settleReject, wantErr: ErrInvoiceAmount},
		{name: "more than twice", inv: "single", amount: 2001, htlc: ref(1, 5), want: settleReject, wantErr: ErrInvoiceOverpaid},
		{name: "expired", inv: "short", amount: 1000, htlc: ref(1, 6), at: time.Minute, want: settleReject, wantErr: ErrInvoiceExpired},
		{name: "cancelled", inv: "cancel", amount: 10, htlc: ref(1, 7), want: settleReject, wantErr: ErrInvoiceCancelled},
		{name: "pays", inv: "single", amount: 1000, total: 1000, htlc: ref(2, 0), want: settleFulfill, wantRels: []HTLCRef{ref(2, 0)}},
		{name: "already paid", inv: "single", amount: 1000, htlc: ref(2, 1), want: settleReject, wantErr: ErrInvoicePaid},
		{name: "replay of the paying HTLC", inv: "single", amount: 1000, htlc: ref(2, 0), at: 2 * time.Hour, want: settleFulfill, wantRels: []HTLCRef{ref(2, 0)}},
		{name: "payer chooses, overpays slightly", inv: "any", amount: 7, htlc: ref(2, 2), want: settleFulfill, wantRels: []HTLCRef{ref(2, 2)}},

		{name: "mpp part 1", inv: "mpp", amount: 300, total: 1000, htlc: ref(3, 0), want: settleHold},
		{name: "mpp part 1 again", inv: "mpp", amount: 300, total: 1000, htlc: ref(3, 0), want: settleHold},
		{name: "mpp part with another total", inv: "mpp", amount: 300, total: 1200, htlc: ref(3, 9), want: settleReject, wantErr: ErrInvoiceTotalMismatch},
		{name: "mpp part with wrong secret", inv: "mpp", badSec: true, amount: 700, total: 1000, htlc: ref(3, 8), want: settleReject, wantErr: ErrInvoiceSecret},
		{name: "mpp part 2", inv: "mpp", amount: 300, total: 1000, htlc: ref(4, 0), want: settleHold},
		{name: "mpp part 3 completes", inv: "mpp", amount: 400, total: 1000, htlc: ref(3, 1), want: settleFulfill,
			wantRels: []HTLCRef{ref(3, 0), ref(4, 0), ref(3, 1)}},
		{name: "mpp late part", inv: "mpp", amount: 100, total: 1000, htlc: ref(3, 2), want: settleReject, wantErr: ErrInvoicePaid},
		{name: "mpp replay of part 2", inv: "mpp", amount: 300, total: 1000, htlc: ref(4, 0), want: settleFulfill, wantRels: []HTLCRef{ref(4, 0)}},
	}
	runSettleSteps(t, n, invs, t0, steps)

	tests := []struct {
		inv      string
		state    string
		received uint64
		htlcs    int
	}{
		{"single", InvoiceStatePaid, 1000, 1},
		{"mpp", InvoiceStatePaid, 1000, 3},
		{"any", InvoiceStatePaid, 7, 1},
		{"cancel", InvoiceStateCancelled, 0, 0},
		{"short", InvoiceStateOpen, 0, 0},
	}
	for _, tt := range tests {
		r, err := n.Invoice(invs[tt.inv].Invoice.PaymentHash)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != tt.state || r.Received != tt.received || len(r.HTLCs) != tt.htlcs {
			t.Errorf("%s: state %s received %d htlcs %d, want %s %d %d", tt.inv, r.State, r.Received, len(r.HTLCs), tt.state, tt.received, tt.htlcs)
		}
		_, known := n.chans.preimages.Load(channel.Hash(r.Invoice.PaymentHash))
		if known != (tt.state == InvoiceStateOpen) {
			t.Errorf("%s (%s): preimage known to the channel layer: %v", tt.inv, tt.state, known)
		}
	}
	if len(n.invoiceReg().held) != 0 || len(n.invoiceReg().heldByRef) != 0 || len(n.invoiceReg().locks) != 0 {
		t.Errorf("registry not empty after settling: %+v", n.invoiceReg())
	}
}

func TestHeldPartsTimeoutAndDrop(t *testing.T) {
	n := startDir(t, initDir(t))
	a := newInvoice(t, n, 100, time.Hour)
	b := newInvoice(t, n, 100, time.Hour)
	t0 := a.Invoice.CreatedAt
	invs := map[string]*InvoiceRecord{"a": a, "b": b}
	runSettleSteps(t, n, invs, t0, []settleStep{
		{name: "a part 1", inv: "a", amount: 40, total: 100, htlc: ref(1, 1), want: settleHold},
		{name: "a part 2", inv: "a", amount: 40, total: 100, htlc: ref(1, 2), at: 30 * time.Second, want: settleHold},
		{name: "b part 1", inv: "b", amount: 50, total: 100, htlc: ref(2, 1), at: 30 * time.Second, want: settleHold},
	})
	if got := n.expireHeldParts(t0.Add(MPPTimeout - time.Millisecond)); len(got) != 0 {
		t.Fatalf("expired before the MPP timeout: %v", got)
	}
	got := n.expireHeldParts(t0.Add(MPPTimeout))
	if !sameRefs(got, []HTLCRef{ref(1, 1), ref(1, 2)}) {
		t.Fatalf("expired %v, want a's two parts", got)
	}
	// The expired parts no longer count: a needs 100 afresh.
	runSettleSteps(t, n, invs, t0, []settleStep{
		{name: "a new part 1", inv: "a", amount: 60, total: 100, htlc: ref(1, 3), at: MPPTimeout, want: settleHold},
	})

	// The expiry sweep drops a held part it is about to fail.
	hb := b.Invoice.PaymentHash
	if n.invoiceHoldsHTLC(channel.ID{2}, channel.HTLC{ID: 1, PaymentHash: hb}) {
		t.Fatal("sweep told to keep a held part that is not being released")
	}
	if n.dropHeldPart(ref(2, 1)) {
		t.Fatal("part dropped twice")
	}
	runSettleSteps(t, n, invs, t0, []settleStep{
		{name: "b part 2 does not complete", inv: "b", amount: 50, total: 100, htlc: ref(2, 2), at: 40 * time.Second, want: settleHold},
		{name: "b part 3 completes", inv: "b", amount: 50, total: 100, htlc: ref(2, 3), at: 41 * time.Second, want: settleFulfill, wantRels: []HTLCRef{ref(2, 2), ref(2, 3)}},
	})
	// A part recorded as paying a paid invoice is left alone by the sweep.
	if !n.invoiceHoldsHTLC(channel.ID{2}, channel.HTLC{ID: 3, PaymentHash: hb}) {
		t.Fatal("sweep may fail an HTLC that paid an invoice")
	}
	if n.invoiceHoldsHTLC(channel.ID{2}, channel.HTLC{ID: 9, PaymentHash: hb}) {
		t.Fatal("sweep told to keep an HTLC that paid nothing")
	}
	if !n.dropHeldPart(ref(1, 3)) || n.dropHeldPart(ref(1, 3)) {
		t.Fatal("dropHeldPart of a held part")
	}
	if len(n.invoiceReg().held) != 0 {
		t.Fatalf("held sets left: %v", n.invoiceReg().held)
	}
}

// Parts of one payment arriving concurrently from many channels release
// exactly once, with every part.
func TestSettleConcurrentParts(t *testing.T) {
	n := startDir(t, initDir(t))
	const parts = 16
	inv := newInvoice(t, n, parts*10, time.Hour).Invoice
	now := inv.CreatedAt.Add(time.Second)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		released []HTLCRef
		fulfills int
	)
	for i := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, d, err := n.settleInvoiceHTLC(inv.PaymentHash, inv.PaymentSecret, 10, parts*10, ref(byte(i), uint64(i)), now)
			if err != nil || d.Action == settleReject {
				t.Errorf("part %d: %v %v", i, err, d.Reason)
			}
			mu.Lock()
			defer mu.Unlock()
			if d.Action == settleFulfill {
				fulfills++
				released = append(released, d.Release...)
			}
		}()
	}
	wg.Wait()
	if fulfills != 1 || len(released) != parts {
		t.Fatalf("%d fulfills releasing %d parts, want 1 releasing %d", fulfills, len(released), parts)
	}
	r, err := n.Invoice(inv.PaymentHash)
	if err != nil || r.Received != parts*10 || len(r.HTLCs) != parts {
		t.Fatalf("invoice after concurrent parts: %+v, %v", r, err)
	}
}

func TestInvoicesPersistAcrossRestart(t *testing.T) {
	dir := initDir(t)
	n := startDir(t, dir)
	open := newInvoice(t, n, 500, time.Hour)
	paid := newInvoice(t, n, 700, time.Hour)
	expired := newInvoice(t, n, 900, time.Millisecond)
	pinv := paid.Invoice
	if _, d, err := n.settleInvoiceHTLC(pinv.PaymentHash, pinv.PaymentSecret, 700, 700, ref(5, 5), time.Now()); err != nil || d.Action != settleFulfill {
		t.Fatalf("pay: %v %v", d, err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n = startDir(t, dir)
	if err := n.loadInvoicePreimages(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rec   *InvoiceRecord
		state string
		known bool // preimage loaded for the channel layer
	}{
		{open, InvoiceStateOpen, true},
		{paid, InvoiceStatePaid, false},
		{expired, InvoiceStateExpired, false},
	}
	for _, tt := range tests {
		h := tt.rec.Invoice.PaymentHash
		got, err := n.Invoice(h)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != tt.state || got.Text != tt.rec.Text || got.Preimage != tt.rec.Preimage {
			t.Errorf("%x after restart: state %s, want %s (text or preimage changed: %v)", h[:4], got.State, tt.state, got.Text != tt.rec.Text || got.Preimage != tt.rec.Preimage)
		}
		pre, known := n.chans.preimages.Load(channel.Hash(h))
		if known != tt.known || known && pre.(channel.Hash) != channel.Hash(tt.rec.Preimage) {
			t.Errorf("%x after restart: preimage loaded %v, want %v", h[:4], known, tt.known)
		}
	}
	// The HTLC that paid is fulfilled again; another is refused.
	pre, d, err := n.settleInvoiceHTLC(pinv.PaymentHash, pinv.PaymentSecret, 700, 700, ref(5, 5), time.Now())
	if err != nil || d.Action != settleFulfill || !pinv.Pays(pre) {
		t.Fatalf("replay after restart: %v %v", d, err)
	}
	if _, d, _ := n.settleInvoiceHTLC(pinv.PaymentHash, pinv.PaymentSecret, 700, 700, ref(5, 6), time.Now()); !errors.Is(d.Reason, ErrInvoicePaid) {
		t.Fatalf("new HTLC to a paid invoice after restart: %v", d)
	}
	list, err := n.Invoices(0)
	if err != nil || len(list) != 3 {
		t.Fatalf("Invoices after restart: %d, %v", len(list), err)
	}
	var texts []string
	for i, r := range list {
		texts = append(texts, r.Text)
		if i > 0 && r.Invoice.CreatedAt.After(list[i-1].Invoice.CreatedAt) {
			t.Fatalf("Invoices not newest first: %v after %v", r.Invoice.CreatedAt, list[i-1].Invoice.CreatedAt)
		}
	}
	slices.Sort(texts)
	want := []string{open.Text, paid.Text, expired.Text}
	slices.Sort(want)
	if !slices.Equal(texts, want) {
		t.Fatal("Invoices after restart lists other invoices")
	}
	if list, _ := n.Invoices(2); len(list) != 2 {
		t.Fatalf("Invoices(2) returned %d", len(list))
	}
}

func TestCreateInvoiceRejects(t *testing.T) {
	n := startDir(t, initDir(t))
	tests := []struct {
		name   string
		expiry time.Duration
		desc   string
	}{
		{"negative expiry", -time.Second, ""},
		{"expiry beyond the maximum", invoice.MaxExpiry + time.Second, ""},
		{"description too long", time.Hour, strings.Repeat("x", invoice.MaxDescription+1)},
		{"description not UTF-8", time.Hour, "\xff"},
	}
	for _, tt := range tests {
		if _, err := n.CreateInvoice(1, tt.desc, tt.expiry, nil); !errors.Is(err, invoice.ErrMalformed) {
			t.Errorf("%s: %v, want invoice.ErrMalformed", tt.name, err)
		}
	}
	if list, _ := n.Invoices(0); len(list) != 0 {
		t.Fatalf("refused invoices were stored: %d", len(list))
	}
	r, err := n.CreateInvoice(1, "", 0, nil)
	if err != nil || r.Invoice.Expiry != DefaultInvoiceExpiry || r.Invoice.Payee != n.ID() {
		t.Fatalf("default expiry: %v %v", r, err)
	}
}

func TestInvoiceAPI(t *testing.T) {
	n := startDir(t, initDir(t))
	mux := http.NewServeMux()
	n.registerInvoiceAPI(mux)
	srv := httptest.NewServer(n.authenticate(mux))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	c := api.NewClient(addr, n.cfg.APIToken)
	ctx := context.Background()

	created, err := c.CreateInvoice(ctx, api.CreateInvoiceRequest{Amount: 42, Description: "coffee", ExpirySeconds: 600})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := invoice.Decode(created.Invoice)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Amount != 42 || inv.Description != "coffee" || inv.Expiry != 10*time.Minute || inv.Payee != n.ID() ||
		created.State != InvoiceStateOpen || created.Payee != n.ID().String() || created.ExpiresAt == "" {
		t.Fatalf("created %+v", created)
	}
	if _, err := c.CreateInvoice(ctx, api.CreateInvoiceRequest{Amount: 1}); err != nil {
		t.Fatal(err)
	}
	shown, err := c.Invoice(ctx, created.PaymentHash)
	if err != nil || shown.Invoice != created.Invoice || shown.State != InvoiceStateOpen || shown.Preimage != "" {
		t.Fatalf("show: %+v %v", shown, err)
	}
	if byPrefix, err := c.Invoice(ctx, strings.ToUpper(created.PaymentHash[:9])); err != nil || byPrefix.PaymentHash != created.PaymentHash {
		t.Fatalf("show by prefix: %+v %v", byPrefix, err)
	}
	list, err := c.Invoices(ctx, 0)
	if err != nil || len(list) != 2 || list[1].PaymentHash != created.PaymentHash {
		t.Fatalf("list: %v %v", list, err)
	}
	if list, err := c.Invoices(ctx, 1); err != nil || len(list) != 1 {
		t.Fatalf("list limit 1: %v %v", list, err)
	}
	dec, err := c.DecodeInvoice(ctx, " "+created.Invoice+"\n")
	if err != nil || dec.PaymentHash != created.PaymentHash || dec.Amount != 42 || dec.State != "" || dec.Expired {
		t.Fatalf("decode: %+v %v", dec, err)
	}

	// Pay it, then it shows paid with its preimage and cannot be cancelled.
	if _, d, err := n.settleInvoiceHTLC(inv.PaymentHash, inv.PaymentSecret, 42, 42, ref(7, 1), time.Now()); err != nil || d.Action != settleFulfill {
		t.Fatalf("pay: %v %v", d, err)
	}
	shown, err = c.Invoice(ctx, created.PaymentHash)
	if err != nil || shown.State != InvoiceStatePaid || shown.AmountReceived != 42 || shown.Preimage == "" || shown.PaidAt == "" || len(shown.HTLCs) != 1 {
		t.Fatalf("show paid: %+v %v", shown, err)
	}
	if _, err := c.CancelInvoice(ctx, created.PaymentHash); statusOf(err) != http.StatusConflict {
		t.Fatalf("cancel a paid invoice: %v", err)
	}
	cancelled, err := c.CancelInvoice(ctx, list[0].PaymentHash)
	if err != nil || cancelled.State != InvoiceStateCancelled {
		t.Fatalf("cancel: %+v %v", cancelled, err)
	}

	bad := []struct {
		name string
		call func() error
		code int
	}{
		{"unknown hash", func() error { _, err := c.Invoice(ctx, strings.Repeat("ab", 32)); return err }, http.StatusNotFound},
		{"malformed hash", func() error { _, err := c.Invoice(ctx, "xyz"); return err }, http.StatusBadRequest},
		{"short hash", func() error { _, err := c.Invoice(ctx, "abcd"); return err }, http.StatusBadRequest},
		{"long hash", func() error { _, err := c.Invoice(ctx, created.PaymentHash+"0"); return err }, http.StatusBadRequest},
		{"odd non-hex", func() error { _, err := c.Invoice(ctx, created.PaymentHash[:8]+"g"); return err }, http.StatusBadRequest},
		{"unknown prefix", func() error {
			_, err := c.Invoice(ctx, unknownPrefix(created.PaymentHash, list[0].PaymentHash))
			return err
		}, http.StatusNotFound},
		{"cancel unknown", func() error { _, err := c.CancelInvoice(ctx, strings.Repeat("cd", 32)); return err }, http.StatusNotFound},
		{"decode garbage", func() error { _, err := c.DecodeInvoice(ctx, "pm1qqqq"); return err }, http.StatusBadRequest},
		{"decode a typo", func() error {
			typo := []byte(created.Invoice)
			typo[20] = map[bool]byte{true: 'q', false: 'p'}[typo[20] != 'q']
			_, err := c.DecodeInvoice(ctx, string(typo))
			return err
		}, http.StatusBadRequest},
		{"negative expiry", func() error {
			_, err := c.CreateInvoice(ctx, api.CreateInvoiceRequest{Amount: 1, ExpirySeconds: -1})
			return err
		}, http.StatusBadRequest},
		{"description too long", func() error {
			_, err := c.CreateInvoice(ctx, api.CreateInvoiceRequest{Amount: 1, Description: strings.Repeat("x", 700)})
			return err
		}, http.StatusBadRequest},
		{"bad limit", func() error { return c.Do(ctx, http.MethodGet, api.PathInvoices+"?limit=-2", nil, nil) }, http.StatusBadRequest},
		{"unknown field", func() error {
			return c.Do(ctx, http.MethodPost, api.PathInvoices, map[string]any{"amount": 1, "memo": "x"}, nil)
		}, http.StatusBadRequest},
	}
	for _, tt := range bad {
		if got := statusOf(tt.call()); got != tt.code {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.code)
		}
	}
	if _, err := api.NewClient(addr, "wrong").Invoices(ctx, 0); !errors.Is(err, api.ErrUnauthorized) {
		t.Fatalf("wrong token: %v", err)
	}
}

func statusOf(err error) int {
	var se *api.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// BenchmarkSettleInvoiceHTLC measures the payee's check and synced
// mark-paid of a single-part payment (on-disk store).
func BenchmarkSettleInvoiceHTLC(b *testing.B) {
	n := startDir(b, initDir(b))
	invs := make([]*invoice.Invoice, b.N)
	for i := range invs {
		r, err := n.CreateInvoice(10, "", time.Hour, nil)
		if err != nil {
			b.Fatal(err)
		}
		invs[i] = r.Invoice
	}
	now := time.Now()
	b.ResetTimer()
	for i, inv := range invs {
		_, d, err := n.settleInvoiceHTLC(inv.PaymentHash, inv.PaymentSecret, 10, 10, ref(1, uint64(i)), now)
		if err != nil || d.Action != settleFulfill {
			b.Fatal(d, err)
		}
	}
}

// BenchmarkCreateInvoice measures issuing one invoice: random secrets,
// signature, encoding and the synced write.
func BenchmarkCreateInvoice(b *testing.B) {
	n := startDir(b, initDir(b))
	for b.Loop() {
		if _, err := n.CreateInvoice(10, "bench", time.Hour, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// unknownPrefix returns an 8-digit hex prefix of neither hash.
func unknownPrefix(hashes ...string) string {
	for _, p := range []string{"00000000", "11111111", "22222222"} {
		if !slices.ContainsFunc(hashes, func(h string) bool { return strings.HasPrefix(h, p) }) {
			return p
		}
	}
	return "33333333"
}
