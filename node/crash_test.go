package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paymesh/paymesh/api"
	"github.com/paymesh/paymesh/protocol/channel"
)

// The kill -9 test runs one node in this process (the parent, A) and one in
// a child process (B) started from this same test binary: TestCrashChild,
// which does nothing unless crashChildEnv describes its work. Both nodes
// keep their channel log in Badger on disk. A opens a channel with a push,
// then both stream HTLCs at the other. A kills B with SIGKILL in the middle
// of the streams, restarts it on the same data dir, and does it again; the
// third run of B streams to its end. A streams all along. Once both ends
// agree, the test checks that every HTLC ended exactly once and that the
// balances are what the fulfilled HTLCs say they must be.
//
// Preimages are derived from a seed shared through the environment, so each
// process knows which hashes the other can fulfil without being told:
// preimage = SHA-256(seed || direction || index), direction 'a' for HTLCs A
// offers, 'b' for those B offers. Run r of B offers indices from r<<20.
//
// A's view is exact: A never crashes, so every HTLC it offers has a waiter,
// and a wrapper around its channel hooks records every HTLC B offered (A
// knows all of B's preimages, so it fulfils every one it sees). B forgets
// the waiters of HTLCs in flight when it dies, so its side is checked from
// its final co-signed state, read through its API.

const (
	crashChildEnv   = "PAYMESH_CRASH_CHILD"
	crashLinePrefix = "CRASHCHILD "
	crashCapacity   = 1_000_000
	crashPush       = 400_000
	crashMaxA       = 20_000 // A never offers more than this...
	crashMinA       = 4000   // ...and goes on until it offered this many and B's last run ended
	crashInFlight   = 256
	crashExpiry     = 2 * time.Minute // far beyond the test: no HTLC may expire
)

// crashRuns are the runs of B: how many HTLCs each offers, and whether A
// kills it in the middle of them.
var crashRuns = []struct {
	count int
	kill  bool
}{{2000, true}, {2000, true}, {1500, false}}

// crashChildSpec is the child's work, passed as JSON in crashChildEnv.
type crashChildSpec struct {
	Dir      string `json:"dir"`
	Seed     string `json:"seed"`     // hex
	Incoming int    `json:"incoming"` // A offers indices [0, Incoming)
	First    uint64 `json:"first"`    // B offers [First, First+Count)
	Count    int    `json:"count"`
	InFlight int    `json:"in_flight"`
}

func crashPreimage(seed []byte, dir byte, i uint64) channel.Hash {
	h := sha256.New()
	h.Write(seed)
	h.Write([]byte{dir})
	h.Write(binary.BigEndian.AppendUint64(nil, i))
	return channel.Hash(h.Sum(nil))
}

func crashHash(seed []byte, dir byte, i uint64) channel.Hash {
	pre := crashPreimage(seed, dir, i)
	return channel.Hash(sha256.Sum256(pre[:]))
}

func crashAmountA(i uint64) uint64 { return 1 + i%5 }
func crashAmountB(j uint64) uint64 { return 1 + j%7 }

// TestCrashChild is the child process of TestCrashKill9Converges. It runs
// node B on the data dir it is given, fulfils A's HTLCs, streams its own
// HTLCs to A and reports on stdout, one line per event:
//
//	CRASHCHILD ready API-ADDR
//	CRASHCHILD channel ID
//	CRASHCHILD result J ok|fail REASON|err ERROR|bad PREIMAGE
//	CRASHCHILD done
//
// Then it waits for its stdin to close and stops cleanly.
func TestCrashChild(t *testing.T) {
	raw := os.Getenv(crashChildEnv)
	if raw == "" {
		t.Skip("helper process of TestCrashKill9Converges; runs only when started by it")
	}
	var spec crashChildSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatalf("bad %s: %v", crashChildEnv, err)
	}
	seed, err := hex.DecodeString(spec.Seed)
	if err != nil {
		t.Fatal(err)
	}
	say := func(format string, args ...any) {
		// One write per line: lines of concurrent goroutines never mix, and
		// a line is either wholly in the pipe or not at all when killed.
		fmt.Fprintf(os.Stdout, crashLinePrefix+format+"\n", args...)
	}
	cfg, err := ConfigFromDataDir(spec.Dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = testLogger(t)
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := n.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	for i := range uint64(spec.Incoming) {
		n.AddPreimage(crashPreimage(seed, 'a', i))
	}
	say("ready %s", n.APIAddr())

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var id channel.ID
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for id == (channel.ID{}) {
		cis, err := n.Channels(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ci := range cis {
			if ci.State == "open" {
				if id, err = n.ParseChannelID(ci.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		if id != (channel.ID{}) {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("no open channel: %v", ctx.Err())
		}
	}
	say("channel %s", id)

	var wg sync.WaitGroup
	sem := make(chan struct{}, spec.InFlight)
	for j := spec.First; j < spec.First+uint64(spec.Count); j++ {
		sem <- struct{}{}
		res, err := n.OfferHTLC(ctx, id, crashAmountB(j), crashHash(seed, 'b', j), time.Now().Add(crashExpiry), nil)
		if err != nil {
			say("result %d err %q", j, err.Error())
			<-sem
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			select {
			case r := <-res:
				switch {
				case r.Preimage != nil && *r.Preimage != crashPreimage(seed, 'b', j):
					say("result %d bad %s", j, r.Preimage)
				case r.Preimage != nil:
					say("result %d ok", j)
				case r.Reason != nil:
					say("result %d fail %q", j, r.Reason)
				default:
					say("result %d err %q", j, fmt.Sprint(r.Err))
				}
			case <-ctx.Done():
				say("result %d err %q", j, ctx.Err().Error())
			}
		}()
	}
	wg.Wait()
	say("done")
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it (or dies)
}

// crashHooks wraps A's channel hooks to record what happened to HTLCs.
type crashHooks struct {
	chanHooks
	mu       sync.Mutex
	added    []channel.HTLC    // HTLCs B offered, as A was told of them
	resolves map[uint64]int    // A's HTLC id → times it was resolved
	outcome  map[uint64]string // A's HTLC id → "fulfilled" or "failed"
}

func (h *crashHooks) incoming(s *peerSession, id channel.ID, htlc channel.HTLC, now time.Time) {
	h.mu.Lock()
	h.added = append(h.added, htlc)
	h.mu.Unlock()
	h.chanHooks.incoming(s, id, htlc, now)
}

func (h *crashHooks) resolved(id channel.ID, htlc uint64, r HTLCResult) {
	h.mu.Lock()
	h.resolves[htlc]++
	if r.Preimage != nil {
		h.outcome[htlc] = "fulfilled"
	} else {
		h.outcome[htlc] = "failed"
	}
	h.mu.Unlock()
	h.chanHooks.resolved(id, htlc, r)
}

// crashProc is one run of the child process.
type crashProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	kick   chan<- struct{} // signalled on every line
	eof    chan struct{}   // stdout reached its end
	waited bool
	stderr lockedBuffer

	mu      sync.Mutex
	apiAddr string
	chanID  string
	results map[uint64]string // index → "ok", "fail ...", "err ...", "bad ..."
	dups    []string
	done    bool
	other   []string // output that is not a protocol line
}

func startCrashChild(t *testing.T, spec crashChildSpec, kick chan<- struct{}) *crashProc {
	t.Helper()
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	return startChildTest(t, "TestCrashChild", crashChildEnv+"="+string(raw), kick)
}

// startChildTest re-executes this test binary running only test name, with
// env added to its environment, and follows its CRASHCHILD lines. The child
// is killed at cleanup if the test has not stopped it.
func startChildTest(t *testing.T, name, env string, kick chan<- struct{}) *crashProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), env)
	p := &crashProc{t: t, cmd: cmd, kick: kick, eof: make(chan struct{}), results: make(map[uint64]string)}
	cmd.Stderr = &p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.read(stdout)
	t.Cleanup(func() {
		if !p.waited {
			_ = p.cmd.Process.Kill()
			<-p.eof
			_ = p.cmd.Wait()
			p.waited = true
		}
		if t.Failed() {
			t.Logf("child %s pid %d: output %q; stderr (tail; PAYMESH_TEST_LOG=debug logs the nodes):\n%s",
				name, cmd.Process.Pid, p.other, p.stderr.tail(16<<10))
		}
	})
	return p
}

func (p *crashProc) read(r io.Reader) {
	defer close(p.eof)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		rest, ok := strings.CutPrefix(line, crashLinePrefix)
		if !ok {
			p.other = append(p.other, line)
		}
		word, arg, _ := strings.Cut(rest, " ")
		switch {
		case !ok:
		case word == "ready":
			p.apiAddr = arg
		case word == "channel":
			p.chanID = arg
		case word == "done":
			p.done = true
		case word == "result":
			num, outcome, _ := strings.Cut(arg, " ")
			j, err := strconv.ParseUint(num, 10, 64)
			if err != nil {
				p.other = append(p.other, "unparsable: "+line)
				break
			}
			if _, seen := p.results[j]; seen {
				p.dups = append(p.dups, line)
			}
			p.results[j] = outcome
		default:
			p.other = append(p.other, "unknown: "+line)
		}
		p.mu.Unlock()
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

// kill9 kills the child with SIGKILL and reaps it.
func (p *crashProc) kill9() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatal(err)
	}
	<-p.eof
	err := p.cmd.Wait()
	p.waited = true
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
		p.t.Fatalf("child did not die of the signal: %v", err)
	}
}

// stop closes the child's stdin, which makes it stop its node cleanly, and
// checks that it exits successfully.
func (p *crashProc) stop() {
	p.t.Helper()
	p.stdin.Close()
	select {
	case <-p.eof:
	case <-time.After(20 * time.Second):
		p.t.Fatal("child did not exit within 20s of its stdin closing")
	}
	err := p.cmd.Wait()
	p.waited = true
	if err != nil {
		p.t.Fatalf("child exited with %v", err)
	}
}

func (p *crashProc) snapshot() (apiAddr, chanID string, results map[uint64]string, done bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.apiAddr, p.chanID, maps.Clone(p.results), p.done
}

// exited reports whether the child's output has ended (it died or exited).
func (p *crashProc) exited() bool {
	select {
	case <-p.eof:
		return true
	default:
		return false
	}
}

// lockedBuffer collects a child's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

func (l *lockedBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.b.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// waitFor waits until cond holds, re-checking it whenever kick fires; on
// timeout it fails with what and the diagnosis diag returns.
func waitFor(t *testing.T, kick <-chan struct{}, timeout time.Duration, what string, diag func() string, cond func() bool) {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for !cond() {
		select {
		case <-kick:
		case <-timer.C:
			t.Fatalf("timed out after %v waiting for %s\n%s", timeout, what, diag())
		}
	}
}

// crashDiagnosis describes both ends of the channel for a failure message.
func crashDiagnosis(a *Node, id channel.ID, b *crashProc, tokenB string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, errA := a.Channel(ctx, id)
	ca.HTLCs = nil
	out := fmt.Sprintf("A's view: %+v (%v)", ca, errA)
	if b == nil || b.exited() {
		return out + "\nB is not running"
	}
	addr, _, _, _ := b.snapshot()
	cb, errB := api.NewClient(addr, tokenB).Channel(ctx, id.String())
	cb.HTLCs = nil
	out += fmt.Sprintf("\nB's view: %+v (%v)", cb, errB)
	if errA == nil && errB == nil && ca.Connected && !cb.Connected {
		out += "\nA holds a channel stream that B does not have: A still uses its stream to B's killed process" +
			" and refuses the streams the restarted B opens (PAYMESH_TEST_LOG=debug shows B's streams reset every redial)"
	}
	return out
}

func TestCrashKill9Converges(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second process and streams thousands of HTLCs")
	}
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kick := make(chan struct{}, 1)
	signal := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}

	// A, in this process, with every preimage of B's HTLCs.
	a := startDir(t, initDir(t))
	hooks := &crashHooks{chanHooks: a.chans.hooks, resolves: make(map[uint64]int), outcome: make(map[uint64]string)}
	a.chans.hooks = hooks // before any session exists
	bIndex := make(map[channel.Hash]uint64)
	for r, run := range crashRuns {
		for j := uint64(r) << 20; j < uint64(r)<<20+uint64(run.count); j++ {
			a.AddPreimage(crashPreimage(seed, 'b', j))
			bIndex[crashHash(seed, 'b', j)] = j
		}
	}
	var aAddr string
	for _, m := range a.Addrs() {
		if strings.Contains(m.String(), "/tcp/") {
			aAddr = m.String()
		}
	}
	if aAddr == "" {
		t.Fatalf("A has no TCP address: %v", a.Addrs())
	}

	// B's data dir: TCP on loopback, A as its bootstrap peer.
	dirB := filepath.Join(t.TempDir(), "b")
	bID, err := Init(dirB)
	if err != nil {
		t.Fatal(err)
	}
	cfgB := fmt.Sprintf("[network]\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\nbootstrap = [%q]\n[api]\naddress = \"127.0.0.1:0\"\n", aAddr)
	if err := os.WriteFile(filepath.Join(dirB, ConfigFile), []byte(cfgB), 0o644); err != nil {
		t.Fatal(err)
	}
	keysB, err := LoadKeys(dirB)
	if err != nil {
		t.Fatal(err)
	}

	// A's stream: from the open until B's last run has ended, across every
	// crash and restart.
	type aResult struct {
		r    HTLCResult
		seen int
	}
	var (
		aMu      sync.Mutex
		aResults = make([]aResult, crashMaxA)
		aErr     error
		aOffered atomic.Uint64
		aDone    atomic.Uint64
		aStop    atomic.Bool
		streamWG sync.WaitGroup
	)
	t.Cleanup(func() { cancel(); streamWG.Wait() })
	aFailed := func() error {
		aMu.Lock()
		defer aMu.Unlock()
		return aErr
	}
	streamA := func(id channel.ID) {
		defer streamWG.Done()
		sem := make(chan struct{}, crashInFlight)
		for i := range uint64(crashMaxA) {
			if aStop.Load() && i >= crashMinA || aFailed() != nil {
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			res, err := a.OfferHTLC(ctx, id, crashAmountA(i), crashHash(seed, 'a', i), time.Now().Add(crashExpiry), nil)
			if err != nil {
				aMu.Lock()
				aErr = fmt.Errorf("offer HTLC %d: %w", i, err)
				aMu.Unlock()
				signal()
				return
			}
			aOffered.Add(1)
			streamWG.Add(1)
			go func() {
				defer streamWG.Done()
				select {
				case r := <-res:
					aMu.Lock()
					aResults[i].r = r
					aResults[i].seen++
					if r.Preimage == nil && r.Reason == nil && aErr == nil {
						aErr = fmt.Errorf("A's HTLC %d ended without an answer from B: %v", i, r.Err)
					}
					aMu.Unlock()
					aDone.Add(1)
					<-sem
					signal()
				case <-ctx.Done():
				}
			}()
		}
		aMu.Lock()
		aErr = fmt.Errorf("A offered all of its %d HTLCs before B's last run ended", crashMaxA)
		aMu.Unlock()
		signal()
	}

	var (
		id      channel.ID
		procs   []*crashProc
		results []map[uint64]string // per run of B, what its waiters saw
	)
	diag := func() string {
		if id == (channel.ID{}) {
			return "no channel yet"
		}
		return crashDiagnosis(a, id, procs[len(procs)-1], keysB.APIToken)
	}
	for r, run := range crashRuns {
		first := uint64(r) << 20
		p := startCrashChild(t, crashChildSpec{Dir: dirB, Seed: hex.EncodeToString(seed), Incoming: crashMaxA,
			First: first, Count: run.count, InFlight: crashInFlight}, kick)
		procs = append(procs, p)
		if r == 0 {
			waitConnected(t, a, bID)
			if id, err = a.OpenChannel(ctx, bID, crashCapacity, crashPush); err != nil {
				t.Fatal(err)
			}

			streamWG.Add(1)
			go streamA(id)
		}
		if !run.kill {
			waitFor(t, kick, 15*time.Second, fmt.Sprintf("B's run %d to end", r+1), diag, func() bool {
				_, _, _, done := p.snapshot()
				if !done && p.exited() {
					t.Fatalf("B's run %d exited before ending its stream", r+1)
				}
				return done || aFailed() != nil
			})
			break
		}
		// Kill B somewhere between a tenth and a half of its stream, once A
		// has settled a few more of its own since the last restart.
		killAt := run.count/10 + mrand.IntN(run.count*2/5)
		aFrom := aDone.Load()
		waitFor(t, kick, 15*time.Second, fmt.Sprintf("both streams to be under way in B's run %d", r+1), diag, func() bool {
			if p.exited() {
				t.Fatalf("B's run %d exited before the kill", r+1)
			}
			_, _, res, _ := p.snapshot()
			return len(res) >= killAt && aDone.Load() >= aFrom+uint64(killAt)/4 || aFailed() != nil
		})
		if err := aFailed(); err != nil {
			t.Fatal(err)
		}
		p.kill9()
		_, chanB, res, done := p.snapshot()
		offered, settled := aOffered.Load(), aDone.Load()
		t.Logf("killed B's run %d after %d of its %d HTLCs ended; A: %d of %d offered ended", r+1, len(res), run.count, settled, offered)
		if done || len(res) == run.count || offered == settled {
			t.Fatal("the kill landed where a stream was idle: the test did not test a crash mid-stream")
		}
		if chanB != id.String() {
			t.Fatalf("B reported channel %q, want %s", chanB, id)
		}
		results = append(results, res)
	}
	aStop.Store(true)
	last := procs[len(procs)-1]
	apiB, _, resLast, _ := last.snapshot()
	results = append(results, resLast)
	waitFor(t, kick, 15*time.Second, "A's stream to end", diag, func() bool {
		return aFailed() != nil || aStop.Load() && aOffered.Load() >= crashMinA && aDone.Load() == aOffered.Load()
	})
	if err := aFailed(); err != nil {
		t.Fatal(err)
	}
	streamWG.Wait() // the stream is over: every waiter has its result
	clientB := api.NewClient(apiB, keysB.APIToken)

	// Converge: nothing pending, same sequence, both connected.
	var ca ChannelInfo
	var cb api.Channel
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for {
		if ca, err = a.Channel(ctx, id); err != nil {
			t.Fatal(err)
		}
		if cb, err = clientB.Channel(ctx, id.String()); err != nil {
			t.Fatal(err)
		}
		if ca.PendingHTLCs == 0 && cb.PendingHTLCs == 0 && ca.Seq == cb.Seq && ca.Connected && cb.Connected {
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no convergence within 15s\n%s", diag())
		}
	}

	// Every HTLC A offered ended exactly once, with the right preimage or
	// a failure from B.
	offeredA := aOffered.Load()
	var fulfilledA, failedA, sumA uint64
	for i, ar := range aResults[:offeredA] {
		switch {
		case ar.seen != 1:
			t.Errorf("A's HTLC %d: %d results", i, ar.seen)
		case ar.r.Preimage != nil:
			if *ar.r.Preimage != crashPreimage(seed, 'a', uint64(i)) {
				t.Errorf("A's HTLC %d fulfilled with a wrong preimage", i)
			}
			fulfilledA++
			sumA += crashAmountA(uint64(i))
		case ar.r.Reason != nil:
			// B fails HTLCs it restored from disk before it relearnt its
			// preimages (they live in memory only).
			if string(ar.r.Reason) != "unknown payment hash" {
				t.Errorf("A's HTLC %d failed: %q", i, ar.r.Reason)
			}
			failedA++
		default:
			t.Errorf("A's HTLC %d ended without an answer from B: %v", i, ar.r.Err)
		}
	}
	hooks.mu.Lock()
	added := append([]channel.HTLC(nil), hooks.added...)
	var hookFulfilled uint64
	for hid := range offeredA {
		if n := hooks.resolves[hid]; n != 1 {
			t.Errorf("A's HTLC id %d resolved %d times", hid, n)
		}
		if hooks.outcome[hid] == "fulfilled" {
			hookFulfilled++
		}
	}
	if uint64(len(hooks.resolves)) != offeredA {
		t.Errorf("%d of A's HTLC ids resolved, want %d", len(hooks.resolves), offeredA)
	}
	hooks.mu.Unlock()
	if hookFulfilled != fulfilledA {
		t.Errorf("hooks saw %d fulfilled, waiters %d", hookFulfilled, fulfilledA)
	}

	// Every HTLC B offered reached A once, under one id, in id order; A
	// fulfilled all of them (it knows every preimage and none expired: one
	// left unfulfilled would still be pending).
	var sumB uint64
	seenHash := make(map[channel.Hash]bool)
	for k, h := range added {
		j, known := bIndex[h.PaymentHash]
		switch {
		case h.ID != uint64(k):
			t.Errorf("B's HTLC number %d reached A with id %d", k, h.ID)
		case !known:
			t.Errorf("B's HTLC %d pays an unknown hash", h.ID)
		case seenHash[h.PaymentHash]:
			t.Errorf("B's HTLC %d (index %d) reached A twice", h.ID, j)
		case h.Amount != crashAmountB(j):
			t.Errorf("B's HTLC %d (index %d): amount %d, want %d", h.ID, j, h.Amount, crashAmountB(j))
		}
		seenHash[h.PaymentHash] = true
		sumB += h.Amount
	}
	// What B's waiters reported agrees: each HTLC B saw fulfilled reached
	// A; the last run, which ran to its end, lost none.
	for r, res := range results {
		for j, outcome := range res {
			if outcome != "ok" {
				t.Errorf("run %d: B's HTLC %d: %s", r+1, j, outcome)
			} else if !seenHash[crashHash(seed, 'b', j)] {
				t.Errorf("run %d: B saw its HTLC %d fulfilled, A never saw it", r+1, j)
			}
		}
	}
	lastRun := len(crashRuns) - 1
	if len(resLast) != crashRuns[lastRun].count {
		t.Errorf("B's last run reported %d results, want %d", len(resLast), crashRuns[lastRun].count)
	}
	for j := uint64(lastRun) << 20; j < uint64(lastRun)<<20+uint64(crashRuns[lastRun].count); j++ {
		if !seenHash[crashHash(seed, 'b', j)] {
			t.Errorf("B's HTLC %d of its last run never reached A", j)
		}
	}
	for _, p := range procs {
		p.mu.Lock()
		if len(p.dups) > 0 {
			t.Errorf("B reported results twice: %v", p.dups)
		}
		p.mu.Unlock()
	}

	// The co-signed state counts exactly the HTLCs seen.
	s, err := a.chans.sessionOf(id)
	if err != nil {
		t.Fatal(err)
	}
	var st channel.State
	var side channel.Side
	if err := s.do(ctx, func(s *peerSession) { st, side = *s.chans[id].m.State().State, s.chans[id].m.Side() }); err != nil {
		t.Fatal(err)
	}
	if st.NextHTLC[side] != offeredA || st.NextHTLC[side.Other()] != uint64(len(added)) {
		t.Errorf("state counts %d HTLCs from A and %d from B, want %d and %d", st.NextHTLC[side], st.NextHTLC[side.Other()], offeredA, len(added))
	}

	// Balances: exactly the fulfilled HTLCs moved money, on both views.
	wantA := uint64(crashCapacity-crashPush) - sumA + sumB
	wantB := uint64(crashPush) + sumA - sumB
	if ca.LocalBalance != wantA || ca.RemoteBalance != wantB {
		t.Errorf("A sees %d/%d, want %d/%d (A's HTLCs: %d fulfilled for %d; B's: %d fulfilled for %d)",
			ca.LocalBalance, ca.RemoteBalance, wantA, wantB, fulfilledA, sumA, len(added), sumB)
	}
	if cb.LocalBalance != ca.RemoteBalance || cb.RemoteBalance != ca.LocalBalance || cb.Seq != ca.Seq || cb.Capacity != ca.Capacity {
		t.Errorf("ends disagree:\n A %+v\n B %+v", ca, cb)
	}
	for name, v := range map[string][4]uint64{
		"A": {ca.LocalBalance, ca.RemoteBalance, ca.PendingAmount, ca.Capacity},
		"B": {cb.LocalBalance, cb.RemoteBalance, cb.PendingAmount, cb.Capacity},
	} {
		if v[0]+v[1]+v[2] != v[3] || v[3] != crashCapacity {
			t.Errorf("%s: invariant broken: %d + %d + %d != %d", name, v[0], v[1], v[2], v[3])
		}
	}
	if ca.State != "open" || cb.State != "open" {
		t.Errorf("states %q (%s) and %q (%s), want open", ca.State, ca.Failure, cb.State, cb.Failure)
	}

	// Both logs audit clean and end at the same co-signed state.
	repA, err := a.AuditChannel(id)
	if err != nil {
		t.Fatal(err)
	}
	repB, err := clientB.AuditChannel(ctx, id.String())
	if err != nil {
		t.Fatal(err)
	}
	if !repA.OK || !repB.OK {
		t.Errorf("audit: A %+v, B %+v", repA, repB)
	}
	if repA.Seq != repB.Seq || repA.StateHash != repB.StateHash || repA.Seq != ca.Seq {
		t.Errorf("latest co-signed states differ: A %+v, B %+v, channel at %d", repA, repB, ca.Seq)
	}
	if repA.StateHash != st.Hash().String() {
		t.Errorf("A's audit ends at %s, its machine at %s", repA.StateHash, st.Hash())
	}

	last.stop()
	t.Logf("A's HTLCs: %d fulfilled, %d failed; B's: %d fulfilled; seq %d; logs: A %d records %d checkpoints, B %d records %d checkpoints",
		fulfilledA, failedA, len(added), ca.Seq, repA.Records, repA.Checkpoints, repB.Records, repB.Checkpoints)
}
