package routing

import (
	"fmt"
	"io"
	"time"
)

type clnHalf struct {
	Source      string   `json:"source"`
	Destination string   `json:"destination"`
	SCID        string   `json:"short_channel_id"`
	Direction   flexUint `json:"direction"`
	Satoshis    flexUint `json:"satoshis"`
	AmountMsat  flexUint `json:"amount_msat"`
	Active      *bool    `json:"active"`
	LastUpdate  flexUint `json:"last_update"`
	BaseFee     flexUint `json:"base_fee_millisatoshi"`
	FeePPM      flexUint `json:"fee_per_millionth"`
	Delay       flexUint `json:"delay"`
	HTLCMin     flexUint `json:"htlc_minimum_msat"`
	HTLCMax     flexUint `json:"htlc_maximum_msat"`
}

type clnChannel struct {
	info  ChannelInfo
	index int
}

// LoadCLN reads the JSON that Core Lightning's `lightning-cli listchannels`
// prints: {"channels": [half-channel, …]}, one object per direction with
// source, destination, short_channel_id ("BLOCKxTXxOUT"), amount_msat (or
// satoshis), active, last_update, base_fee_millisatoshi, fee_per_millionth,
// delay (blocks), htlc_minimum_msat and htlc_maximum_msat. Both the modern
// form (amounts as numbers, with a direction field) and the pre-2023 form
// (amounts as strings such as "50000000msat", no direction field) are
// accepted: the direction is inferred from source < destination. Halves of
// one channel are merged; active=false marks the direction disabled; delay
// becomes ms at MsPerBlock per block. gzip input is accepted.
//
// A seekable input (a file, say) of the usual shape is read by a direct
// scan, about three times faster; anything that scan does not load cleanly
// is read again from where it started, as any other input is read.
func LoadCLN(r io.Reader, opts LoadOptions) (*Graph, LoadReport, error) {
	if rs, ok := r.(io.ReadSeeker); ok && !opts.Strict {
		if start, err := rs.Seek(0, io.SeekCurrent); err == nil {
			if g, rep, ok := loadCLNFast(rs, opts); ok {
				return g, rep, nil
			}
			if _, err := rs.Seek(start, io.SeekStart); err != nil {
				return nil, LoadReport{Format: FormatCLN}, fmt.Errorf("load %s: rewind: %w", FormatCLN, err)
			}
		}
	}
	return load(r, opts, FormatCLN, func(l *loader) error {
		byID := map[ChannelID]*clnChannel{}
		var order []*clnChannel
		err := l.object("top level", func(key string) error {
			if key != "channels" {
				return l.skipValue(key)
			}
			return l.array("channels", func(i int) error {
				l.report.Records++
				if l.report.Records > 2*l.opts.MaxChannels {
					return fmt.Errorf("%w: more than %d half-channels", ErrMalformed, 2*l.opts.MaxChannels)
				}
				var h clnHalf
				ferr, err := l.decode("channels", i, &h)
				if err != nil {
					return err
				}
				if ferr == nil {
					ferr = l.addHalf(&h, i, byID, &order)
				}
				if ferr != nil {
					reason := SkipMalformed
					if d, ok := ferr.(dupError); ok {
						reason, ferr = SkipDuplicate, d.error
					}
					return l.skip("channels", i, h.SCID, reason, ferr.Error())
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		return l.addCLNChannels(order)
	})
}

// addCLNChannels adds the channels merged from halves, in order of their
// first half.
func (l *loader) addCLNChannels(order []*clnChannel) error {
	l.merged = true
	for _, c := range order {
		if err := l.addChannel("channels", c.index, c.info.ID, c.info); err != nil {
			return err
		}
	}
	return nil
}

type dupError struct{ error }

func (l *loader) addHalf(h *clnHalf, i int, byID map[ChannelID]*clnChannel, order *[]*clnChannel) error {
	if err := flexCheck("direction", &h.Direction, "satoshis", &h.Satoshis, "amount_msat", &h.AmountMsat,
		"last_update", &h.LastUpdate, "base_fee_millisatoshi", &h.BaseFee, "fee_per_millionth", &h.FeePPM,
		"delay", &h.Delay, "htlc_minimum_msat", &h.HTLCMin, "htlc_maximum_msat", &h.HTLCMax); err != nil {
		return err
	}
	id, err := ParseChannelID(h.SCID)
	if err != nil {
		return &fieldError{"short_channel_id", err.Error()}
	}
	src, err := pubKey("source", h.Source)
	if err != nil {
		return err
	}
	dst, err := pubKey("destination", h.Destination)
	if err != nil {
		return err
	}
	capacity := h.AmountMsat.v
	if !h.AmountMsat.set {
		if h.Satoshis.v > ^uint64(0)/1000 {
			return &fieldError{"satoshis", "overflows msat"}
		}
		capacity = h.Satoshis.v * 1000
	}
	dir := DirectionOf(src, dst)
	if h.Direction.set && h.Direction.v != uint64(dir) {
		return &fieldError{"direction", fmt.Sprintf("%d contradicts source/destination order", h.Direction.v)}
	}
	delta, err := blocksToMs("delay", h.Delay.v)
	if err != nil {
		return err
	}
	base, err := u32("base_fee_millisatoshi", h.BaseFee.v)
	if err != nil {
		return err
	}
	ppm, err := u32("fee_per_millionth", h.FeePPM.v)
	if err != nil {
		return err
	}
	if h.Active == nil {
		return &fieldError{"active", "missing"}
	}
	p := &Policy{FeeBase: uint64(base), FeePPM: ppm, ExpiryDelta: delta, HTLCMin: h.HTLCMin.v, HTLCMax: h.HTLCMax.v, Disabled: !*h.Active}
	if p.HTLCMax != 0 && p.HTLCMin > p.HTLCMax {
		return &fieldError{"htlc_minimum_msat", fmt.Sprintf("%d above htlc_maximum_msat %d", p.HTLCMin, p.HTLCMax)}
	}
	if h.LastUpdate.v > 0 && h.LastUpdate.v < 1<<32 {
		p.LastUpdate = time.Unix(int64(h.LastUpdate.v), 0).UTC()
	}
	n1, n2 := src, dst
	if dir == 1 {
		n1, n2 = dst, src
	}
	c, ok := byID[id]
	if !ok {
		if len(byID) >= l.opts.MaxChannels {
			return fmt.Errorf("more than %d channels", l.opts.MaxChannels)
		}
		c = &clnChannel{info: ChannelInfo{ID: id, Node1: n1, Node2: n2, Capacity: capacity}, index: i}
		byID[id] = c
		*order = append(*order, c)
	} else if c.info.Node1 != n1 || c.info.Node2 != n2 || c.info.Capacity != capacity {
		return &fieldError{"short_channel_id", "halves disagree on ends or capacity"}
	}
	if c.info.Policy[dir] != nil {
		return dupError{fmt.Errorf("direction %d seen before", dir)}
	}
	c.info.Policy[dir] = p
	return nil
}
