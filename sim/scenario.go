package sim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/paymesh/paymesh/routing"
)

// ErrScenario is wrapped by every scenario parse or validation error.
var ErrScenario = errors.New("invalid scenario")

// MaxScenarioBytes caps the size of a scenario file.
const MaxScenarioBytes = 1 << 20

// TopologySpec is the [topology] table.
type TopologySpec struct {
	// Source is "cloth" (Path is the directory of nodes_ln.csv,
	// channels_ln.csv, edges_ln.csv), "spider" (Path is an edge list),
	// "lnd" or "cln" (Path is a describegraph / listchannels JSON, loaded
	// by package routing), or "generate" (see Generate).
	Source string `toml:"source" json:"source"`
	Path   string `toml:"path" json:"path,omitempty"`
	// UnitMsat is Spider's capacity unit in msat (default 1000 = sat).
	UnitMsat float64 `toml:"unit_msat" json:"unit_msat,omitempty"`
	// Policy for sources without fees (Spider): default 1000 msat + 1 ppm,
	// delta 40, HTLC minimum 1 msat.
	FeeBaseMsat *uint64 `toml:"fee_base_msat" json:"fee_base_msat,omitempty"`
	FeePPM      *uint64 `toml:"fee_ppm" json:"fee_ppm,omitempty"`
	CLTVDelta   uint32  `toml:"cltv_delta" json:"cltv_delta,omitempty"`
	// LargestComponent keeps only the largest connected component.
	LargestComponent bool `toml:"largest_component" json:"largest_component,omitempty"`
	// Generate configures source = "generate".
	Generate GeneratorConfig `toml:"generate" json:"generate,omitzero"`
}

// BalanceSpec is the [balances] table.
type BalanceSpec struct {
	// Init is "file", "even", "uniform" or "funder". Default: "file" when
	// the source has balances (CLoTH), else "uniform".
	Init string `toml:"init" json:"init"`
	// Scale multiplies every capacity (funds scaled down, as Spider
	// does). Default 1.
	Scale float64 `toml:"scale" json:"scale"`
}

// StrategySpec is a [strategy.LABEL] table: which routing strategy a label
// runs, and its routing.Config parameters (zero = routing's default).
type StrategySpec struct {
	// Use is the registered routing strategy name; default the label.
	Use            string  `toml:"use" json:"use"`
	Model          string  `toml:"model" json:"model,omitempty"`
	BimodalScale   float64 `toml:"bimodal_scale" json:"bimodal_scale,omitempty"`
	RiskFactor     float64 `toml:"risk_factor" json:"risk_factor,omitempty"`
	AttemptCost    float64 `toml:"attempt_cost" json:"attempt_cost,omitempty"`
	MinProbability float64 `toml:"min_probability" json:"min_probability,omitempty"`
	MaxParts       int     `toml:"max_parts" json:"max_parts,omitempty"`
	MinPartSize    uint64  `toml:"min_part_size" json:"min_part_size,omitempty"`
	FeeWeight      float64 `toml:"fee_weight" json:"fee_weight,omitempty"`
	Pieces         int     `toml:"pieces" json:"pieces,omitempty"`
}

// OutputSpec is the [output] table.
type OutputSpec struct {
	// Plots writes PNG and SVG plots (default true).
	Plots *bool `toml:"plots" json:"plots,omitempty"`
	// PaymentsCSV writes one line per payment (default true).
	PaymentsCSV *bool `toml:"payments_csv" json:"payments_csv,omitempty"`
}

// Scenario is a parsed, validated scenario file.
type Scenario struct {
	Name        string `toml:"name" json:"name"`
	Description string `toml:"description" json:"description,omitempty"`
	// Seed is the base seed; run r uses Seed + r.
	Seed uint64 `toml:"seed" json:"seed"`
	// Runs is how many seeds to simulate (default 1); more than one gives
	// 95% confidence intervals.
	Runs int `toml:"runs" json:"runs"`
	// Strategies are labels, run side by side on the same workload.
	Strategies []string                `toml:"strategies" json:"strategies"`
	Strategy   map[string]StrategySpec `toml:"strategy" json:"strategy,omitempty"`
	Topology   TopologySpec            `toml:"topology" json:"topology"`
	Balances   BalanceSpec             `toml:"balances" json:"balances"`
	Workload   WorkloadSpec            `toml:"workload" json:"workload"`
	Engine     EngineConfig            `toml:"engine" json:"engine"`
	Output     OutputSpec              `toml:"output" json:"output"`
	// Sweep maps dotted keys ("workload.rate") to the values `sim sweep`
	// tries; the grid is their cartesian product.
	Sweep map[string][]any `toml:"sweep" json:"sweep,omitempty"`

	// File is the scenario's path, Dir the directory relative paths
	// resolve against, and SHA256 the hex digest of the file's bytes.
	File   string `toml:"-" json:"file"`
	Dir    string `toml:"-" json:"-"`
	SHA256 string `toml:"-" json:"sha256"`
	// Overrides lists the key=value overrides applied, in order.
	Overrides []string `toml:"-" json:"overrides,omitempty"`

	raw []byte // the file's bytes, for re-parsing with overrides (sweeps)
}

// Override sets one dotted key of a scenario, as `--set key=value` does.
// Value is TOML syntax ("0.5", "\"uniform\"", "[1, 2]"); a bare word that
// is not valid TOML is taken as a string.
type Override struct {
	Key   string
	Value string
}

// ParseOverride parses "key=value".
func ParseOverride(s string) (Override, error) {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return Override{}, fmt.Errorf("%w: override %q: want key=value", ErrScenario, s)
	}
	return Override{Key: k, Value: strings.TrimSpace(v)}, nil
}

func (o Override) value() any {
	var m map[string]any
	if _, err := toml.Decode("v = "+o.Value, &m); err == nil {
		return m["v"]
	}
	return o.Value
}

// LoadScenario reads, parses and validates a scenario file.
func LoadScenario(path string, overrides ...Override) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(ioLimit(f, MaxScenarioBytes+1)); err != nil {
		return nil, fmt.Errorf("load scenario %s: %w", path, err)
	}
	if buf.Len() > MaxScenarioBytes {
		return nil, fmt.Errorf("%w: %s: larger than %d bytes", ErrScenario, path, MaxScenarioBytes)
	}
	return ParseScenario(path, buf.Bytes(), overrides...)
}

// ParseScenario parses scenario bytes; name is used in errors and to
// resolve relative paths. Unknown keys are errors.
func ParseScenario(name string, data []byte, overrides ...Override) (*Scenario, error) {
	fail := func(f string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrScenario, name, fmt.Sprintf(f, a...))
	}
	sum := sha256.Sum256(data)
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fail("line %d: %s", pe.Position.Line, pe.Message)
		}
		return nil, fail("%v", err)
	}
	src := string(data)
	if len(overrides) > 0 {
		for _, o := range overrides {
			if err := setKey(raw, o.Key, o.value()); err != nil {
				return nil, fail("override %s: %v", o.Key, err)
			}
		}
		var b bytes.Buffer
		if err := toml.NewEncoder(&b).Encode(raw); err != nil {
			return nil, fail("apply overrides: %v", err)
		}
		src = b.String()
	}
	var sc Scenario
	md, err := toml.Decode(src, &sc)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fail("line %d: %s", pe.Position.Line, pe.Message)
		}
		return nil, fail("%v", err)
	}
	// Keys the [workload] table does not declare go to Params, for
	// registered generators; any other unknown key is an error.
	for _, k := range md.Undecoded() {
		if len(k) == 2 && k[0] == "workload" && sc.Workload.Kind != "" && sc.Workload.Kind != "poisson" && sc.Workload.Kind != "trace" {
			if sc.Workload.Params == nil {
				sc.Workload.Params = map[string]any{}
			}
			if w, ok := raw["workload"].(map[string]any); ok {
				sc.Workload.Params[k[1]] = w[k[1]]
			}
			continue
		}
		if len(k) >= 1 && k[0] == "sweep" {
			continue
		}
		return nil, fail("unknown field %s", k.String())
	}
	sc.File = name
	sc.raw = data
	sc.Dir = filepath.Dir(name)
	sc.SHA256 = hex.EncodeToString(sum[:])
	for _, o := range overrides {
		sc.Overrides = append(sc.Overrides, o.Key+"="+o.Value)
	}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrScenario, name, err)
	}
	return &sc, nil
}

func setKey(m map[string]any, key string, v any) error {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		if p == "" {
			return fmt.Errorf("empty key segment")
		}
		next, ok := m[p]
		if !ok {
			n := map[string]any{}
			m[p] = n
			m = n
			continue
		}
		n, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("%s is not a table", p)
		}
		m = n
	}
	last := parts[len(parts)-1]
	if last == "" {
		return fmt.Errorf("empty key segment")
	}
	m[last] = v
	return nil
}

// Validate fills defaults and checks every field; errors name the field.
func (sc *Scenario) Validate() error {
	if sc.Name == "" {
		sc.Name = strings.TrimSuffix(filepath.Base(sc.File), filepath.Ext(sc.File))
	}
	if sc.Runs == 0 {
		sc.Runs = 1
	}
	if sc.Runs < 1 || sc.Runs > 10_000 {
		return fmt.Errorf("runs: %d not in [1, 10000]", sc.Runs)
	}
	if len(sc.Strategies) == 0 {
		return fmt.Errorf("strategies: list at least one (have %v)", routing.Strategies())
	}
	seen := map[string]bool{}
	for i, label := range sc.Strategies {
		if label == "" || seen[label] {
			return fmt.Errorf("strategies[%d]: empty or repeated label %q", i, label)
		}
		seen[label] = true
		spec := sc.Strategy[label]
		use := spec.Use
		if use == "" {
			use = label
		}
		if !slices.Contains(routing.Strategies(), use) {
			return fmt.Errorf("strategies[%d]: unknown strategy %q (have %v; set strategy.%s.use)", i, use, routing.Strategies(), label)
		}
		if _, err := spec.config(nil, 0); err != nil {
			return fmt.Errorf("strategy.%s: %w", label, err)
		}
	}
	for label := range sc.Strategy {
		if !seen[label] {
			return fmt.Errorf("strategy.%s: label not listed in strategies", label)
		}
	}
	t := &sc.Topology
	switch t.Source {
	case "cloth", "spider", "lnd", "cln":
		if t.Path == "" {
			return fmt.Errorf("topology.path: required for source %q", t.Source)
		}
	case "generate":
		g := t.Generate
		if err := g.validate(); err != nil {
			return fmt.Errorf("topology.generate: %w", err)
		}
	case "":
		return fmt.Errorf("topology.source: missing (cloth, spider, lnd, cln, generate)")
	default:
		return fmt.Errorf("topology.source: unknown %q (cloth, spider, lnd, cln, generate)", t.Source)
	}
	if !(t.UnitMsat >= 0) || math.IsInf(t.UnitMsat, 0) {
		return fmt.Errorf("topology.unit_msat: %g must be >= 0", t.UnitMsat)
	}
	b := &sc.Balances
	if b.Init == "" {
		b.Init = BalanceUniform
		if t.Source == "cloth" {
			b.Init = BalanceFile
		}
	}
	switch b.Init {
	case BalanceFile:
		if t.Source != "cloth" {
			return fmt.Errorf("balances.init: %q needs a source with balances (cloth), not %q", b.Init, t.Source)
		}
	case BalanceEven, BalanceUniform, BalanceFunder:
	default:
		return fmt.Errorf("balances.init: unknown %q (file, even, uniform, funder)", b.Init)
	}
	if b.Scale == 0 {
		b.Scale = 1
	}
	if !(b.Scale > 0 && b.Scale <= 1e6) {
		return fmt.Errorf("balances.scale: %g not in (0, 1e6]", b.Scale)
	}
	if _, err := NewWorkload(sc.Workload); err != nil {
		return err
	}
	if err := sc.Engine.Validate(); err != nil {
		return err
	}
	for k, vs := range sc.Sweep {
		if len(vs) == 0 || len(vs) > 1000 {
			return fmt.Errorf("sweep.%s: give 1 to 1000 values", k)
		}
	}
	return nil
}

// config turns a spec into a routing.Config. oracle may be nil while
// validating. blockMs scales the lnd-style risk factor (per block) to ms.
func (s StrategySpec) config(oracle routing.LiquidityOracle, blockMs uint64) (routing.Config, error) {
	c := routing.Config{RiskFactor: s.RiskFactor, AttemptCost: s.AttemptCost, MinProbability: s.MinProbability,
		MaxParts: s.MaxParts, MinPartSize: s.MinPartSize, FeeWeight: s.FeeWeight, Pieces: s.Pieces, Oracle: oracle}
	if c.RiskFactor == 0 && blockMs > 0 {
		c.RiskFactor = LND010RiskFactor / float64(blockMs)
	}
	switch s.Model {
	case "", "bimodal":
		if s.BimodalScale != 0 || s.Model == "bimodal" {
			c.Model = routing.NewBimodalModel(routing.BimodalConfig{Scale: s.BimodalScale})
		}
	case "uniform":
		c.Model = routing.UniformModel{}
	case "apriori":
		c.Model = AprioriModel{Hop: LND010AprioriHop, PrevSuccess: LND010PrevSuccess}
	default:
		return c, fmt.Errorf("model: unknown %q (bimodal, uniform, apriori)", s.Model)
	}
	v := c
	if err := v.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// label helpers used by outputs.
func (sc *Scenario) strategyUse(label string) string {
	if u := sc.Strategy[label].Use; u != "" {
		return u
	}
	return label
}
