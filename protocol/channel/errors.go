package channel

import "errors"

// Sentinel errors. Every error returned by this package wraps one of them,
// so callers branch with errors.Is. An error from Step or from a local
// operation means the machine did not change.
var (
	// ErrBadMessage: a message is garbled (missing field, wrong length).
	ErrBadMessage = errors.New("channel: malformed message")
	// ErrUnknownChannel: a message names another channel.
	ErrUnknownChannel = errors.New("channel: unknown channel")
	// ErrBadSignature: a signature does not verify.
	ErrBadSignature = errors.New("channel: bad signature")
	// ErrBadSequence: a state or update number is replayed, skipped or out of order.
	ErrBadSequence = errors.New("channel: bad sequence")
	// ErrStateMismatch: a proposed state hash is not the hash of the state
	// that the named updates produce.
	ErrStateMismatch = errors.New("channel: state does not match updates")
	// ErrInsufficientBalance: an HTLC exceeds what its offerer can spend.
	ErrInsufficientBalance = errors.New("channel: insufficient balance")
	// ErrLimit: an HTLC breaks a limit agreed at open.
	ErrLimit = errors.New("channel: limit exceeded")
	// ErrDuplicateHTLC: an HTLC id is already used.
	ErrDuplicateHTLC = errors.New("channel: duplicate HTLC id")
	// ErrUnknownHTLC: a fulfill or fail names no HTLC of the co-signed state.
	ErrUnknownHTLC = errors.New("channel: unknown HTLC")
	// ErrAlreadyResolved: an HTLC was already fulfilled or failed.
	ErrAlreadyResolved = errors.New("channel: HTLC already resolved")
	// ErrBadPreimage: SHA-256(preimage) is not the HTLC's payment hash.
	ErrBadPreimage = errors.New("channel: wrong preimage")
	// ErrExpired: an HTLC is past its expiry (it can only be failed).
	ErrExpired = errors.New("channel: HTLC expired")
	// ErrClosing: no new HTLC once a cooperative close has started.
	ErrClosing = errors.New("channel: closing")
	// ErrClosed: the channel has its final state.
	ErrClosed = errors.New("channel: closed")
	// ErrFailed: the channel was failed and accepts nothing more.
	ErrFailed = errors.New("channel: failed")
	// ErrNotOpen: the opening state is not co-signed yet.
	ErrNotOpen = errors.New("channel: not open")
	// ErrNotConnected: a peer message arrived while no link is established,
	// or before the peer's ChanReestablish.
	ErrNotConnected = errors.New("channel: not re-established")
	// ErrUnexpected: a message is valid but makes no sense now.
	ErrUnexpected = errors.New("channel: unexpected message")
	// ErrDiverged: the two sides' co-signed histories disagree; the
	// channel is failed (reported as EventFailed, not returned).
	ErrDiverged = errors.New("channel: histories diverged")
	// ErrPeerFailed: the peer failed the channel (reported as EventFailed).
	ErrPeerFailed = errors.New("channel: failed by peer")
	// ErrBadParams: channel parameters are invalid.
	ErrBadParams = errors.New("channel: bad parameters")
	// ErrCorrupt: persisted records are inconsistent.
	ErrCorrupt = errors.New("channel: corrupt records")
)
