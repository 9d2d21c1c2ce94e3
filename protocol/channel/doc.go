// Package channel is the pure state machine of one bilateral payment
// channel: co-signed states, batched HTLC updates from both sides, limits,
// expiry, cooperative close and re-establishment after a disconnect or a
// crash. It performs no I/O, starts no goroutines and never reads a clock:
// time comes in as an argument, and every call returns an Output that the
// caller executes.
//
// # The one rule: persist before send
//
// Every operation (Open, Accept, AddHTLC, Fulfill, FailHTLC, Commit,
// StartClose, Abort, Reconnect) and Step (a message from the peer)
// returns an Output. The node must
//
//  1. append Output.Records to the channel's log and sync the write,
//  2. then send Output.Messages to the peer, in order,
//  3. then handle Output.Events.
//
// Records hold everything the node needs after a crash to prove and
// continue the channel: its parameters, its own updates (persisted before
// they are sent: a preimage is never revealed before it is on disk), every
// state it signed (a proposal, before the signature leaves) and every
// co-signed state (before its countersignature leaves), with the peer's
// updates those states cover. Outputs of several calls may be merged
// (Output.Merge) and executed as one: one synced write, then all messages;
// this is how a node amortises a sync over a batch.
//
// # States
//
// A State is (channel id, sequence, both balances, each side's update
// count, each side's next HTLC id, final flag, hash of the previous
// state, pending HTLCs sorted by offerer and id). Signatures are Ed25519
// over wire.DomainChannelState followed by State.Encode, a hand-written
// canonical encoding (protobuf bytes are never signed). State 0 holds the
// deposits minus the push, and its Prev is the hash of the Params, which
// binds the limits and keys into the chain. For every state,
//
//	balance_opener + balance_acceptor + Σ pending = capacity;
//
// the machine checks it on every state it builds or restores.
//
// # Updates and commits
//
// Each side numbers its updates (add, fulfill, fail) from 1 and streams
// them unsigned; an HTLC is named by its offerer and the offerer's HTLC
// counter. A peer's update is checked on arrival against the co-signed
// state as if all uncommitted adds had happened and no uncommitted removal
// had, so every state built from any prefix of the updates is within
// balance and limits. A fulfill or fail may only name an HTLC of the
// co-signed state, and only the side an HTLC was offered to removes it.
//
// A commit for sequence n+1 names how many updates of each side it
// covers; the state is a pure function of state n and those updates
// (opener's first), so the receiver recomputes it, compares the hash,
// verifies the signature, persists, and countersigns. One proposal per
// side is in flight at a time; updates keep flowing meanwhile and land in
// the next commit (pipelining). If both sides propose the same sequence,
// the opener's proposal wins: the opener ignores the acceptor's, and the
// acceptor drops its own when the opener's arrives. Call Commit after every
// batch of inputs; it does nothing when there is nothing to commit or a
// proposal is in flight (Proposing): a node may hold back own updates made
// meanwhile, unsent and unpersisted, and write them with the next proposal.
//
// HTLC events (added by the peer, with its onion; fulfilled by the peer,
// with the preimage; failed by the peer, with the reason) are reported
// once the change is co-signed, i.e. irrevocable. Events are not durable:
// after Restore, rebuild pending work from State and IncomingPending.
//
// # Expiry and limits
//
// Limits (max pending HTLCs, max in-flight amount, min and max HTLC,
// reserve) are fixed per direction in Params at open. Expiry is unix
// milliseconds. A local fulfill is refused from the expiry on; a peer's
// add or fulfill is accepted up to Config.ExpiryGrace after the expiry,
// to absorb latency and clock skew; no HTLC may expire more than
// MaxExpiryDelta ahead. An expired HTLC can always be failed.
//
// # Connections, crashes and re-establish
//
// On a new stream the node calls Reconnect and sends its output first;
// the peer does the same. Each side's ChanReestablish carries its latest
// co-signed sequence, hash and own signature on it, and how many of the
// other's updates it holds. From it each side completes a proposal the
// peer already countersigned, then retransmits its updates the peer lacks,
// its shutdown and its pending proposal; both converge with no update lost
// or applied twice. Histories that cannot be reconciled fail the channel
// (EventFailed, ErrDiverged). While the link is down (Disconnect, or after
// Restore) local operations still work and their messages are withheld:
// the re-establish exchange sends them.
//
// After a crash, Restore(cfg, records) rebuilds the machine from the
// records since the last snapshot; it recomputes every state and checks
// every hash and signature, so it is also the audit of a log (its error
// names the first bad record). Snapshot returns one record that replaces
// all earlier ones; write it and delete those atomically. Record.Marshal
// (and MarshalRecords, for a round's records in one buffer) writes the
// update and state records of a busy channel by hand, byte for byte what
// proto.Marshal writes; the storage format is the protobuf ChanRecord.
//
// # Errors
//
// Step is transactional: on error nothing changed and the output is
// empty. Errors wrap sentinels (ErrBadSignature, ErrBadSequence,
// ErrStateMismatch, ErrInsufficientBalance, ErrLimit, ErrDuplicateHTLC,
// ErrUnknownHTLC, ErrBadPreimage, ErrExpired, ErrClosing, ErrUnknownChannel,
// ErrBadMessage, ...). A node typically drops the stream on an error and
// re-establishes later; a peer that sends the same bad message again after
// re-establishing will never get past it: give up with Abort. Abort also
// when OfferedExpired reports HTLCs the peer leaves pending past expiry. A channel fails (with
// EventFailed and a RecordFailed) when the histories diverge, when the
// peer sends ChanError, or on Abort; what remains then is to settle the
// latest co-signed state through the Settlement.
//
// # Cooperative close
//
// StartClose sends ChanShutdown; the peer answers with its own. From then
// on neither side adds HTLCs; pending ones are fulfilled or failed and
// committed as usual. When both sides have shut down and the co-signed
// state has no HTLC and covers every update, the opener proposes the
// final state; once co-signed, both report EventClosed and the node
// settles it with its Settlement (Credit is the built-in bilateral credit).
package channel
