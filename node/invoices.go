package node

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/paymesh/paymesh/protocol/channel"
	"github.com/paymesh/paymesh/protocol/invoice"
	"github.com/paymesh/paymesh/store"
)

// Invoices: this node as a payee.
//
// CreateInvoice draws a random preimage and payment secret, signs the
// invoice with the node's identity and persists it (store/invoices.go)
// before handing it out. When a final-hop HTLC arrives, the switch asks
// settleInvoiceHTLC what to do with it:
//
//   - fulfill: the invoice is now paid (the record is marked paid, synced,
//     before the call returns); fulfill every HTLC in decision.Release with
//     the preimage. For a multi-part payment Release names the parts held
//     so far and this one.
//   - hold: a part of a multi-part payment whose total has not arrived yet.
//     Keep the HTLC pending. The parts of one payment hash are released
//     together when their sum reaches both the invoice amount and the total
//     the payer declared.
//   - reject: fail the HTLC with BOLT 4 incorrect_or_unknown_payment_details
//     (PERM|15, with the HTLC amount); decision.Reason says why (one of the
//     ErrInvoice* sentinels below), for logs only: the payer must not learn
//     which check failed.
//
// Held parts live in memory only. The switch fails them with BOLT 4
// mpp_timeout (23) when expireHeldParts returns them, which it does once
// MPPTimeout has passed since the set's first part arrived. If the switch
// must fail a held part for its own reasons (expiry near, channel closing),
// it calls dropHeldPart first and fails the HTLC only if that returns true:
// false means the part is being released and will be fulfilled. After a
// restart the channel layer presents pending HTLCs again; held parts are
// simply held afresh, and an HTLC already recorded as paying an invoice is
// fulfilled again (idempotent).

// MPPTimeout is how long the payee holds the parts of an incomplete
// multi-part payment, counted from the first part (BOLT 4 asks for at least
// 60 seconds).
const MPPTimeout = 60 * time.Second

// DefaultInvoiceExpiry is an invoice's lifetime when none is given.
const DefaultInvoiceExpiry = time.Hour

// Reasons an HTLC paying an invoice is refused. All of them reach the payer
// as incorrect_or_unknown_payment_details.
var (
	ErrUnknownInvoice       = errors.New("unknown invoice")
	ErrInvoiceSecret        = errors.New("wrong payment secret")
	ErrInvoiceAmount        = errors.New("amount below the invoice")
	ErrInvoiceOverpaid      = errors.New("amount more than twice the invoice")
	ErrInvoiceExpired       = errors.New("invoice expired")
	ErrInvoicePaid          = errors.New("invoice already paid")
	ErrInvoiceCancelled     = errors.New("invoice cancelled")
	ErrInvoiceTotalMismatch = errors.New("total amount differs from the other parts'")
)

// Invoice states as reported by the node. "expired" is an open invoice past
// its expiry; the store keeps it open.
const (
	InvoiceStateOpen      = "open"
	InvoiceStatePaid      = "paid"
	InvoiceStateExpired   = "expired"
	InvoiceStateCancelled = "cancelled"
)

// HTLCRef names an HTLC: the channel it is in and its id there.
type HTLCRef struct {
	Channel [32]byte
	ID      uint64
}

// PaidHTLC is one HTLC that paid an invoice.
type PaidHTLC struct {
	HTLCRef
	Amount uint64
}

// InvoiceRecord is an invoice this node issued, with its payment state.
type InvoiceRecord struct {
	// Invoice is the decoded invoice; Text its signed text form.
	Invoice  *invoice.Invoice
	Text     string
	Preimage [32]byte
	// State is open, paid, expired or cancelled (InvoiceState*).
	State    string
	Received uint64
	PaidAt   time.Time
	HTLCs    []PaidHTLC
}

// settleAction is what the switch does with an HTLC paying an invoice.
type settleAction uint8

const (
	settleReject  settleAction = iota // fail: incorrect_or_unknown_payment_details
	settleHold                        // keep pending: more parts to come
	settleFulfill                     // fulfill every HTLC of Release
)

func (a settleAction) String() string {
	switch a {
	case settleHold:
		return "hold"
	case settleFulfill:
		return "fulfill"
	}
	return "reject"
}

// settleDecision is settleInvoiceHTLC's answer.
type settleDecision struct {
	Action settleAction
	// Release lists the HTLCs to fulfill (Action fulfill): every held part
	// of the payment, including the HTLC just presented.
	Release []HTLCRef
	// Reason says why the HTLC is rejected (Action reject).
	Reason error
}

// mppPart is one HTLC of an incomplete multi-part payment.
type mppPart struct {
	ref    HTLCRef
	amount uint64
}

// heldSet is the parts held for one payment hash.
type heldSet struct {
	total     uint64 // the total amount the payer declared
	sum       uint64
	first     time.Time
	parts     []mppPart
	releasing bool // being marked paid: neither expired nor dropped
}

// invoiceRegistry is a node's in-memory invoice state: held parts and a
// lock per payment hash that serialises the read-check-write of a record.
type invoiceRegistry struct {
	mu         sync.Mutex
	held       map[[32]byte]*heldSet
	heldByRef  map[HTLCRef][32]byte
	locks      map[[32]byte]*hashLock
	mppTimeout time.Duration
	// lastCreated keeps creation times strictly increasing, so that
	// invoices list in the order they were made even within a millisecond.
	lastCreated time.Time
}

// creationTime returns now, or one millisecond after the previous
// invoice's creation time if now is not later.
func (r *invoiceRegistry) creationTime(now time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	now = now.Truncate(time.Millisecond)
	if !now.After(r.lastCreated) {
		now = r.lastCreated.Add(time.Millisecond)
	}
	r.lastCreated = now
	return now
}

type hashLock struct {
	mu   sync.Mutex
	refs int
}

func newInvoiceRegistry() *invoiceRegistry {
	return &invoiceRegistry{
		held:       make(map[[32]byte]*heldSet),
		heldByRef:  make(map[HTLCRef][32]byte),
		locks:      make(map[[32]byte]*hashLock),
		mppTimeout: MPPTimeout,
	}
}

// invoiceReg returns the node's registry of held payments.
func (n *Node) invoiceReg() *invoiceRegistry { return n.invoices }

// lock takes the lock of one payment hash and returns its release.
func (r *invoiceRegistry) lock(hash [32]byte) func() {
	r.mu.Lock()
	l := r.locks[hash]
	if l == nil {
		l = &hashLock{}
		r.locks[hash] = l
	}
	l.refs++
	r.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		r.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(r.locks, hash)
		}
		r.mu.Unlock()
	}
}

// CreateInvoice issues an invoice for amount (0: the payer chooses) with a
// description, an expiry (0: DefaultInvoiceExpiry) and optional route hints
// into this node. It is persisted, and its preimage known to the channel
// layer, before it is returned.
func (n *Node) CreateInvoice(amount uint64, desc string, expiry time.Duration, hints [][]invoice.Hop) (*InvoiceRecord, error) {
	if n.store == nil || n.chans == nil {
		return nil, ErrStopped
	}
	if expiry == 0 {
		expiry = DefaultInvoiceExpiry
	}
	var pre, secret [32]byte
	if _, err := rand.Read(pre[:]); err != nil {
		return nil, fmt.Errorf("invoice: preimage: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, fmt.Errorf("invoice: payment secret: %w", err)
	}
	inv := &invoice.Invoice{
		PaymentHash:   sha256.Sum256(pre[:]),
		PaymentSecret: secret,
		Amount:        amount,
		CreatedAt:     n.invoiceReg().creationTime(time.Now()),
		Expiry:        expiry,
		Payee:         n.id,
		Description:   desc,
		RouteHints:    hints,
	}
	if err := inv.Sign(n.cfg.Identity); err != nil {
		return nil, err
	}
	text, err := inv.Encode()
	if err != nil {
		return nil, err
	}
	rec := &store.Invoice{
		Hash:      inv.PaymentHash,
		Secret:    secret,
		Preimage:  pre,
		Amount:    amount,
		CreatedAt: inv.CreatedAt,
		ExpiresAt: inv.ExpiresAt(),
		State:     store.InvoiceOpen,
		Text:      text,
	}
	if err := n.store.AddInvoice(rec); err != nil {
		return nil, fmt.Errorf("invoice: %w", err)
	}
	n.AddPreimage(channel.Hash(pre))
	n.log.Info("invoice created", "payment_hash", channel.Hash(inv.PaymentHash), "amount", amount, "expires", inv.ExpiresAt())
	return &InvoiceRecord{Invoice: inv, Text: text, Preimage: pre, State: InvoiceStateOpen}, nil
}

// toInvoiceRecord decodes a stored invoice for display.
func toInvoiceRecord(r *store.Invoice, now time.Time) (*InvoiceRecord, error) {
	inv, err := invoice.Decode(r.Text)
	if err != nil {
		return nil, fmt.Errorf("stored invoice %x: %w", r.Hash, err)
	}
	out := &InvoiceRecord{Invoice: inv, Text: r.Text, Preimage: r.Preimage, Received: r.Received, PaidAt: r.PaidAt}
	switch {
	case r.State == store.InvoicePaid:
		out.State = InvoiceStatePaid
	case r.State == store.InvoiceCancelled:
		out.State = InvoiceStateCancelled
	case !now.Before(r.ExpiresAt):
		out.State = InvoiceStateExpired
	default:
		out.State = InvoiceStateOpen
	}
	for _, h := range r.HTLCs {
		out.HTLCs = append(out.HTLCs, PaidHTLC{HTLCRef{h.Channel, h.ID}, h.Amount})
	}
	return out, nil
}

// Invoice returns the invoice with the payment hash, or ErrUnknownInvoice.
func (n *Node) Invoice(hash [32]byte) (*InvoiceRecord, error) {
	if n.store == nil {
		return nil, ErrStopped
	}
	r, err := n.store.Invoice(hash)
	if errors.Is(err, store.ErrNoInvoice) {
		return nil, fmt.Errorf("%w %x", ErrUnknownInvoice, hash)
	}
	if err != nil {
		return nil, err
	}
	return toInvoiceRecord(r, time.Now())
}

// Invoices returns up to limit invoices, newest first (all when limit <= 0).
func (n *Node) Invoices(limit int) ([]*InvoiceRecord, error) {
	if n.store == nil {
		return nil, ErrStopped
	}
	recs, err := n.store.Invoices(limit)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]*InvoiceRecord, 0, len(recs))
	for _, r := range recs {
		ir, err := toInvoiceRecord(r, now)
		if err != nil {
			return nil, err
		}
		out = append(out, ir)
	}
	return out, nil
}

// CancelInvoice withdraws an open invoice: HTLCs paying it are refused from
// now on, and parts held for it are left to the MPP timeout. A paid invoice
// cannot be cancelled.
func (n *Node) CancelInvoice(hash [32]byte) (*InvoiceRecord, error) {
	if n.store == nil || n.chans == nil {
		return nil, ErrStopped
	}
	reg := n.invoiceReg()
	unlock := reg.lock(hash)
	defer unlock()
	r, err := n.store.Invoice(hash)
	if errors.Is(err, store.ErrNoInvoice) {
		return nil, fmt.Errorf("%w %x", ErrUnknownInvoice, hash)
	}
	if err != nil {
		return nil, err
	}
	switch r.State {
	case store.InvoicePaid:
		return nil, fmt.Errorf("cancel: %w", ErrInvoicePaid)
	case store.InvoiceOpen:
		r.State = store.InvoiceCancelled
		if err := n.store.UpdateInvoice(r); err != nil {
			return nil, err
		}
		n.chans.preimages.Delete(channel.Hash(hash))
	}
	return toInvoiceRecord(r, time.Now())
}

// loadInvoicePreimages makes the channel layer know the preimage of every
// open invoice that has not expired, after a restart.
func (n *Node) loadInvoicePreimages() error {
	now := time.Now()
	return n.store.ForEachInvoice(func(r *store.Invoice) error {
		if r.State == store.InvoiceOpen && now.Before(r.ExpiresAt) {
			n.AddPreimage(channel.Hash(r.Preimage))
		}
		return nil
	})
}

// settleInvoiceHTLC decides what to do with a final-hop HTLC of amount
// amountReceived paying hash, whose onion carried the payment secret and the
// total amount of the payment (0 when the payer sent none: a single part).
// It returns the preimage with a fulfill decision. An error means the
// invoice could not be read or marked paid; the HTLC should then be failed
// with temporary_node_failure (nothing was recorded for it).
func (n *Node) settleInvoiceHTLC(hash, secret [32]byte, amountReceived, totalAmount uint64, htlc HTLCRef, now time.Time) ([32]byte, settleDecision, error) {
	reject := func(err error) ([32]byte, settleDecision, error) {
		return [32]byte{}, settleDecision{Action: settleReject, Reason: err}, nil
	}
	reg := n.invoiceReg()
	unlock := reg.lock(hash)
	defer unlock()
	r, err := n.store.Invoice(hash)
	if errors.Is(err, store.ErrNoInvoice) {
		return reject(ErrUnknownInvoice)
	}
	if err != nil {
		return [32]byte{}, settleDecision{}, err
	}
	switch r.State {
	case store.InvoicePaid:
		for _, h := range r.HTLCs {
			if h.Channel == htlc.Channel && h.ID == htlc.ID {
				// Presented again after a restart: it paid the invoice.
				return r.Preimage, settleDecision{Action: settleFulfill, Release: []HTLCRef{htlc}}, nil
			}
		}
		return reject(ErrInvoicePaid)
	case store.InvoiceCancelled:
		return reject(ErrInvoiceCancelled)
	}
	if subtle.ConstantTimeCompare(secret[:], r.Secret[:]) != 1 {
		return reject(ErrInvoiceSecret)
	}
	if !now.Before(r.ExpiresAt) {
		return reject(ErrInvoiceExpired)
	}
	total := totalAmount
	if total == 0 {
		total = amountReceived
	}
	switch {
	case amountReceived == 0 || total < r.Amount:
		return reject(ErrInvoiceAmount)
	case r.Amount > 0 && total > r.Amount && total-r.Amount > r.Amount:
		return reject(ErrInvoiceOverpaid)
	}

	reg.mu.Lock()
	set := reg.held[hash]
	if set == nil {
		set = &heldSet{total: total, first: now}
	}
	if set.total != total {
		reg.mu.Unlock()
		return reject(ErrInvoiceTotalMismatch)
	}
	for _, p := range set.parts {
		if p.ref == htlc {
			reg.mu.Unlock() // presented again while held
			return [32]byte{}, settleDecision{Action: settleHold}, nil
		}
	}
	if set.sum+amountReceived < set.sum {
		reg.mu.Unlock()
		return reject(ErrInvoiceOverpaid)
	}
	set.sum += amountReceived
	set.parts = append(set.parts, mppPart{htlc, amountReceived})
	reg.held[hash] = set
	reg.heldByRef[htlc] = hash
	if set.sum < set.total {
		reg.mu.Unlock()
		return [32]byte{}, settleDecision{Action: settleHold}, nil
	}
	set.releasing = true
	parts := slices.Clone(set.parts)
	sum := set.sum
	reg.mu.Unlock()

	r.State = store.InvoicePaid
	r.Received = sum
	r.PaidAt = time.UnixMilli(now.UnixMilli())
	r.HTLCs = make([]store.InvoiceHTLC, len(parts))
	release := make([]HTLCRef, len(parts))
	for i, p := range parts {
		r.HTLCs[i] = store.InvoiceHTLC{Channel: p.ref.Channel, ID: p.ref.ID, Amount: p.amount}
		release[i] = p.ref
	}
	err = n.store.UpdateInvoice(r)

	reg.mu.Lock()
	if err != nil {
		// Not paid: this HTLC will be failed; the other parts stay held.
		set.releasing = false
		set.sum -= amountReceived
		set.parts = slices.DeleteFunc(set.parts, func(p mppPart) bool { return p.ref == htlc })
		delete(reg.heldByRef, htlc)
		if len(set.parts) == 0 {
			delete(reg.held, hash)
		}
	} else {
		delete(reg.held, hash)
		for _, p := range parts {
			delete(reg.heldByRef, p.ref)
		}
	}
	reg.mu.Unlock()
	if err != nil {
		return [32]byte{}, settleDecision{}, fmt.Errorf("mark invoice %x paid: %w", hash, err)
	}
	n.chans.preimages.Delete(channel.Hash(hash))
	n.log.Info("invoice paid", "payment_hash", channel.Hash(hash), "amount", sum, "parts", len(parts))
	return r.Preimage, settleDecision{Action: settleFulfill, Release: release}, nil
}

// expireHeldParts removes the parts of every multi-part payment whose first
// part arrived MPPTimeout or longer before now, and returns them: the
// switch fails each with mpp_timeout.
func (n *Node) expireHeldParts(now time.Time) []HTLCRef {
	reg := n.invoiceReg()
	reg.mu.Lock()
	defer reg.mu.Unlock()
	var out []HTLCRef
	for hash, set := range reg.held {
		if set.releasing || now.Sub(set.first) < reg.mppTimeout {
			continue
		}
		for _, p := range set.parts {
			out = append(out, p.ref)
			delete(reg.heldByRef, p.ref)
		}
		delete(reg.held, hash)
	}
	return out
}

// dropHeldPart takes a held part out of its payment's set, for a switch that
// must fail it for its own reasons. It returns false when the part is not
// held, or is being released to be fulfilled: the switch must then not fail
// it.
func (n *Node) dropHeldPart(ref HTLCRef) bool {
	reg := n.invoiceReg()
	reg.mu.Lock()
	defer reg.mu.Unlock()
	hash, ok := reg.heldByRef[ref]
	if !ok {
		return false
	}
	set := reg.held[hash]
	if set.releasing {
		return false
	}
	i := slices.IndexFunc(set.parts, func(p mppPart) bool { return p.ref == ref })
	set.sum -= set.parts[i].amount
	set.parts = slices.Delete(set.parts, i, i+1)
	delete(reg.heldByRef, ref)
	if len(set.parts) == 0 {
		delete(reg.held, hash)
	}
	return true
}

// invoiceHoldsHTLC answers the channel layer's expiry sweep, which asks
// about an incoming HTLC close to its expiry before failing it. It returns
// true when the HTLC must be left alone because it paid one of this node's
// invoices and its fulfilment is under way (being released, or recorded as
// paying a paid invoice). A held part of an incomplete multi-part payment is
// dropped from its set and false returned, so the sweep fails it and the
// set no longer counts it.
func (n *Node) invoiceHoldsHTLC(id channel.ID, h channel.HTLC) bool {
	ref := HTLCRef{id, h.ID}
	reg := n.invoiceReg()
	reg.mu.Lock()
	if hash, ok := reg.heldByRef[ref]; ok && hash == h.PaymentHash {
		releasing := reg.held[hash].releasing
		reg.mu.Unlock()
		return releasing || !n.dropHeldPart(ref)
	}
	reg.mu.Unlock()
	if n.store == nil {
		return false
	}
	r, err := n.store.Invoice(h.PaymentHash)
	if err != nil || r.State != store.InvoicePaid {
		return false
	}
	return slices.ContainsFunc(r.HTLCs, func(p store.InvoiceHTLC) bool { return p.Channel == ref.Channel && p.ID == ref.ID })
}
