// Package onion builds and peels Sphinx onion packets as specified in
// Lightning's BOLT 4, with paymesh's own TLV hop payloads, and wraps and
// unwraps failure messages on their way back to the payer.
//
// # Forward path
//
// The payer picks a route, encodes one HopPayload per hop and calls NewPacket
// with a fresh random session key and the payment hash as associated data. It
// gets a 1366-byte version 0 packet (version, ephemeral key, 1300 bytes of
// routing info, HMAC) and one SharedSecret per hop, which it keeps with the
// payment attempt. The packet is byte-compatible with BOLT 4: the tests
// rebuild BOLT 4's test vector exactly.
//
// Each hop decodes the packet it receives with the HTLC (DecodePacket) and
// calls Peel with its onion private key and the HTLC's payment hash. Peel
// refuses forged packets with typed errors: ErrInvalidVersion, ErrInvalidKey,
// ErrInvalidHMAC (the BADONION cases, see BadOnionCode) and ErrInvalidPayload.
// Otherwise it returns the hop's payload, the packet for the next hop (nil at
// the final node) and the hop's shared secret. The node should log
// SharedSecret.ReplayKey until the HTLC expires and refuse a packet whose key
// it has seen: that is BOLT 4's replay protection, kept outside this pure
// package. DecodeHopPayload and HopPayload.Validate then check the payload;
// their *PayloadError converts to BOLT 4's invalid_onion_payload failure.
//
// paymesh's payload reuses BOLT 4's TLV types: amt_to_forward (2),
// outgoing_cltv_value (4), short_channel_id (6) and payment_data (8), plus
// keysend's preimage record (5482373484) for spontaneous payments. Because
// paymesh HTLC expiries are wall-clock times, type 4 carries the outgoing
// expiry in unix milliseconds as a tu64 rather than a block height.
//
// # Return path
//
// A hop that fails an HTLC encodes a FailureMessage and calls NewErrorPacket
// with the HTLC's shared secret: the message is padded to 256 bytes,
// authenticated with the hop's um key and obfuscated with its ammag stream.
// Every hop on the way back calls WrapError with its own shared secret. The
// payer calls DecryptError with the secrets NewPacket gave it and learns which
// hop failed and why; a packet no hop authenticates is ErrUnattributable. A hop
// that cannot peel an onion cannot encrypt either (it has no trustworthy
// shared secret), so, as in BOLT 4, it reports the BADONION code and the
// SHA-256 of the onion (NewBadOnionFailure) to the previous hop, which builds
// the error packet with its own secret.
//
// The package is pure: no I/O, no clock, no goroutines. All inputs from peers
// are bounds-checked and no input makes it panic (the fuzz targets check it).
package onion
