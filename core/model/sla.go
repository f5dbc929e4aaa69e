package model

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// SLA keys understood by the allocator. Any other key is an error, except
// free-form computer attributes written "attr.<name>".
const (
	SLAComputerGUID    = "computer_guid"
	SLAInstanceGUID    = "instance_guid"
	SLARegion          = "region"
	SLANetwork         = "network"
	SLAArch            = "arch"
	SLAMinRAM          = "min_ram"
	SLAMinCPU          = "min_cpu"
	SLAMinDisk         = "min_disk"
	SLAMaxPrice        = "max_price"
	SLAUniqueByNetwork = "unique_by_network"
	SLARetentionDelay  = "retention_delay"
	SLAAttrPrefix      = "attr."
)

var knownSLAKeys = []string{
	SLAComputerGUID, SLAInstanceGUID, SLARegion, SLANetwork, SLAArch, SLAMinRAM,
	SLAMinCPU, SLAMinDisk, SLAMaxPrice, SLAUniqueByNetwork, SLARetentionDelay,
}

// SLA is a parsed set of conditions on where an instance may run.
// Zero values mean "no condition".
type SLA struct {
	ComputerGUID    string            `json:"computer_guid,omitempty"`
	InstanceGUID    string            `json:"instance_guid,omitempty"`
	Region          string            `json:"region,omitempty"`
	Network         string            `json:"network,omitempty"`
	Arch            string            `json:"arch,omitempty"`
	MinRAM          int64             `json:"min_ram,omitempty"`  // MiB
	MinCPU          int64             `json:"min_cpu,omitempty"`  // cores
	MinDisk         int64             `json:"min_disk,omitempty"` // GiB
	MaxPrice        float64           `json:"max_price,omitempty"`
	UniqueByNetwork bool              `json:"unique_by_network,omitempty"`
	RetentionDelay  int64             `json:"retention_delay,omitempty"` // seconds
	Attributes      map[string]string `json:"attributes,omitempty"`      // attr.<name> = value
}

// ParseSLA validates raw key=value conditions. Unknown keys are an error that
// lists the accepted ones: a typo must never silently widen a placement.
func ParseSLA(raw map[string]string) (SLA, error) {
	var s SLA
	// In order, for the first error to be the same every time; an SLA
	// has a few keys, which a buffer on the stack holds.
	var buf [8]string
	keys := buf[:0]
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := raw[k]
		if err := ValidateText("sla key", k); err != nil {
			return SLA{}, err
		}
		if !isText(v) {
			return SLA{}, ValidateText("sla "+k, v)
		}
		var err error
		switch {
		case k == SLAComputerGUID:
			s.ComputerGUID, err = nonEmpty(k, v)
		case k == SLAInstanceGUID:
			s.InstanceGUID, err = nonEmpty(k, v)
		case k == SLARegion:
			s.Region, err = nonEmpty(k, v)
		case k == SLANetwork:
			s.Network, err = nonEmpty(k, v)
		case k == SLAArch:
			s.Arch, err = nonEmpty(k, v)
		case k == SLAMinRAM:
			s.MinRAM, err = nonNegInt(k, v)
		case k == SLAMinCPU:
			s.MinCPU, err = nonNegInt(k, v)
		case k == SLAMinDisk:
			s.MinDisk, err = nonNegInt(k, v)
		case k == SLARetentionDelay:
			s.RetentionDelay, err = nonNegInt(k, v)
		case k == SLAMaxPrice:
			s.MaxPrice, err = strconv.ParseFloat(v, 64)
			if err != nil || ValidatePrice(k, s.MaxPrice) != nil {
				err = invalidf("sla %s=%s: expected a finite number from 0 to %g", k, quote(v), float64(MaxPrice))
			}
		case k == SLAUniqueByNetwork:
			s.UniqueByNetwork, err = strconv.ParseBool(v)
			if err != nil {
				err = invalidf("sla %s=%q: expected true or false", k, v)
			}
		case strings.HasPrefix(k, SLAAttrPrefix) && len(k) > len(SLAAttrPrefix):
			if s.Attributes == nil {
				s.Attributes = map[string]string{}
			}
			s.Attributes[strings.TrimPrefix(k, SLAAttrPrefix)] = v
		default:
			return SLA{}, invalidf("sla key %q is unknown: expected one of %s, or attr.<name> for a computer attribute",
				k, strings.Join(knownSLAKeys, ", "))
		}
		if err != nil {
			return SLA{}, err
		}
	}
	return s, nil
}

// IsZero reports whether the SLA sets no condition.
func (s SLA) IsZero() bool {
	return s.ComputerGUID == "" && s.InstanceGUID == "" && s.Region == "" && s.Network == "" &&
		s.Arch == "" && s.MinRAM == 0 && s.MinCPU == 0 && s.MinDisk == 0 && s.MaxPrice == 0 &&
		!s.UniqueByNetwork && s.RetentionDelay == 0 && len(s.Attributes) == 0
}

// Equal reports whether s and o render the same Raw form, without
// rendering either.
func (s SLA) Equal(o SLA) bool {
	positive := func(v int64) int64 { return max(v, 0) }
	price := func(v float64) float64 {
		if v > 0 {
			return v
		}
		return 0
	}
	return s.ComputerGUID == o.ComputerGUID && s.InstanceGUID == o.InstanceGUID && s.Region == o.Region &&
		s.Network == o.Network && s.Arch == o.Arch && positive(s.MinRAM) == positive(o.MinRAM) &&
		positive(s.MinCPU) == positive(o.MinCPU) && positive(s.MinDisk) == positive(o.MinDisk) &&
		price(s.MaxPrice) == price(o.MaxPrice) && s.UniqueByNetwork == o.UniqueByNetwork &&
		positive(s.RetentionDelay) == positive(o.RetentionDelay) && maps.Equal(s.Attributes, o.Attributes)
}

// Raw renders the SLA back to key=value form (the inverse of ParseSLA).
func (s SLA) Raw() map[string]string {
	m := map[string]string{}
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	put(SLAComputerGUID, s.ComputerGUID)
	put(SLAInstanceGUID, s.InstanceGUID)
	put(SLARegion, s.Region)
	put(SLANetwork, s.Network)
	put(SLAArch, s.Arch)
	if s.MinRAM > 0 {
		m[SLAMinRAM] = strconv.FormatInt(s.MinRAM, 10)
	}
	if s.MinCPU > 0 {
		m[SLAMinCPU] = strconv.FormatInt(s.MinCPU, 10)
	}
	if s.MinDisk > 0 {
		m[SLAMinDisk] = strconv.FormatInt(s.MinDisk, 10)
	}
	if s.MaxPrice > 0 {
		m[SLAMaxPrice] = strconv.FormatFloat(s.MaxPrice, 'g', -1, 64)
	}
	if s.UniqueByNetwork {
		m[SLAUniqueByNetwork] = "true"
	}
	if s.RetentionDelay > 0 {
		m[SLARetentionDelay] = strconv.FormatInt(s.RetentionDelay, 10)
	}
	for k, v := range s.Attributes {
		m[SLAAttrPrefix+k] = v
	}
	return m
}

func nonEmpty(k, v string) (string, error) {
	if strings.TrimSpace(v) == "" {
		return "", invalidf("sla %s is empty: expected a value", k)
	}
	return v, nil
}

func nonNegInt(k, v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, invalidf("sla %s=%s: expected a non-negative integer (at most %d)", k, quote(v), int64(math.MaxInt64))
	}
	return n, nil
}

// ParseKeyValues turns "k=v" words (command-line flags, scenario steps) into a
// map. what names the list in errors ("param", "sla", "attr").
func ParseKeyValues(what string, words []string) (map[string]string, error) {
	m := map[string]string{}
	for i, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, invalidf("%s #%d %q: expected key=value", what, i+1, w)
		}
		if _, dup := m[k]; dup {
			return nil, invalidf("%s #%d: key %q given twice", what, i+1, k)
		}
		m[k] = v
	}
	return m, nil
}
