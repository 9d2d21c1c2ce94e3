// Package gossip constructs and validates the signed announcements that
// describe the channel graph: node announcements, channel announcements,
// per-direction channel updates and channel-closed notices. It is pure: time
// is passed in, and nothing is sent, stored or started here.
//
// # Messages and signatures
//
// A node is its libp2p peer.ID; only Ed25519 ids are accepted, so the key
// that verifies a node's signatures is read from its id. Every signature
// covers a signing domain (wire.Domain*) followed by a hand-written
// canonical encoding of the fields (the SigningBytes methods), never the
// protobuf bytes. Every field is bounded (see the Max* constants); Decode
// checks all bounds that need no other message, and refuses any but the
// canonical protobuf encoding, so one content has one pubsub message id.
//
//   - NodeAnnouncement: alias, multiaddrs, secp256k1 onion key, features,
//     timestamp; signed by the node (Sign, Verify).
//   - ChannelAnnouncement: 32-byte channel id, the two ends (Node1 < Node2
//     by bytes), capacity; signed by both. Each end calls
//     NewChannelAnnouncement with the same values, SignatureFor with its key,
//     sends the signature to the other over the channel protocol, and calls
//     AddSignature with the one it receives; both then hold the same
//     complete announcement to publish.
//   - ChannelUpdate: one direction's fees, expiry delta, HTLC bounds,
//     disabled flag, timestamp; signed by the node the direction starts at
//     (Dir12: Node1). It carries the short channel id (big-endian first 8
//     bytes of the id, routing.ChannelID) but signs the full id, which the
//     verifier takes from the announcement.
//   - ChannelClosed: signed by either end.
//
// # Validation
//
// A Validator decides Accept, Reject or Ignore for each message, mirroring
// pubsub.ValidationAccept, ValidationReject and ValidationIgnore, with a
// Reason from a small fixed set for the metric
// paymesh_gossip_rejected_total{reason}. Reject is for what is provably bad
// whoever forwards it (oversize, malformed, out of bounds, bad signature);
// Ignore is for what an honest peer may still forward (stale or duplicate
// timestamps, timestamps more than MaxFutureSkew ahead or MaxAge behind,
// over a rate limit, closed or conflicting channels). When it accepts, the
// Validator records the message (latest timestamp per node and per channel
// direction, the channel and its ends), so a replay is ignored.
//
// Updates and closed notices for an unknown channel are ignored, not
// rejected, and parked (bounded in number and time) until the channel's
// announcement is accepted, when Result.Released hands them back to be
// validated again. The announcement and the update of a new channel are
// published by two different nodes and travel different paths, pubsub
// validates messages concurrently, and a node that has just joined knows
// no channel until its graph sync ends: rejecting would punish honest peers
// into the graylist. An unknown-channel update costs a decode to refuse and
// is not forwarded. Config.RejectUnknownChannel restores strict rejection.
//
// Rate limits are token buckets driven by the times passed in: per channel
// direction for updates, per node for node announcements, and per node
// (both ends pay) for channel announcements. Tokens are spent only by
// messages whose signature verified, so forgeries cannot drain an honest
// node's budget. Items from graph sync (FromSync) get every check but the
// rate limits.
//
// The node plugs the validator into its GossipSub topic:
//
//	ps.RegisterTopicValidator(wire.GossipTopic,
//		func(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
//			r := v.Validate(msg.Data, time.Now(), gossip.FromGossip)
//			if r.Verdict != gossip.Accept {
//				rejected.WithLabelValues(string(r.Reason)).Inc()
//			}
//			msg.ValidatorData = r // the subscriber applies r.Message, revalidates r.Released
//			switch r.Verdict {
//			case gossip.Accept:
//				return pubsub.ValidationAccept
//			case gossip.Reject:
//				return pubsub.ValidationReject
//			}
//			return pubsub.ValidationIgnore
//		})
//
// The Validator is safe for concurrent use, and verifies signatures outside
// its lock, so pubsub's validation workers run in parallel.
//
// # Graph sync
//
// A client sends a SyncRequest (Since: 0 for everything, or a unix-ms
// time); the server answers with SyncChunk frames built by a ChunkPacker,
// items in ascending Kind order (channel announcements, updates, closed
// notices, node announcements), each item the exact gossip bytes it
// accepted, the last chunk marked Done with the total count. For a Since
// request the server sends the items with a timestamp at or after Since plus
// the announcements of the channels those updates and notices belong to.
// The client feeds each frame to a SyncSession, which validates every item
// as gossip would (minus rate limits) and returns an error wrapping
// ErrSyncPeer if the peer sent garbage: disconnect it and ask another.
//
// A full sync is some 335,000 signatures for a Lightning-sized graph, so a
// SyncSession checks them in batches: for each run of items of one kind it
// takes the Validator's first look at every item (decode, bounds, time,
// what it knows), checks the signatures of the run with one randomised
// batch equation per worker, then takes the second look (state again,
// staleness, parking, recording) at each item in order, exactly as
// Validate does around its single check. Items the node already holds are
// duplicates at the first look and cost no signature check. When a batch
// fails, its signatures are checked one by one with the same cofactored
// equation, which passes everything crypto/ed25519 passes, so every
// rejection, and so every disconnected sync peer, is what Validate would
// decide.
//
// The batch equation is cofactored (it holds up to a point of small order;
// crypto/ed25519's cofactorless one cannot be batched soundly), so a sync
// checks every signature with the cofactored equation, in a batch or
// alone, and Validate with crypto/ed25519: a signature whose signer added
// a small-order point to R passes a sync but not gossip. The sync verdict
// never depends on how items fall into chunks and batches, so a node that
// serves on what it synced is never banned for it. No honest signer makes
// such a signature, and only the key's owner can (or anyone, for the few
// keys of small order, whose signatures crypto/ed25519 lets anyone forge
// already). So the difference gives a node no power over others' items: it
// can only make a sync accept an item of its own that gossip refuses, never
// make a sync refuse anything, and a sync never accepts a signature made
// without the key.
//
// # What the node persists and prunes
//
// Persist the bytes of every accepted message: per channel its announcement,
// the latest update of each direction and its closed notice; per node its
// latest announcement. At start, Restore them (announcements first); Restore
// skips signature checks, trusting the store. Periodically call Prune(now,
// maxAge) and delete what it returns: channels with no update for maxAge
// (14 days), nodes left without channels, tombstones of channels closed
// more than maxAge ago.
package gossip
