package master

import (
	"fmt"
	"maps"
	"slices"

	"github.com/slapgo/slapgo/core/model"
)

// ErrQuota is wrapped by every refusal of a quota or of a limit on what a
// person holds (instances per tree). It wraps ErrForbidden: as Kubernetes'
// ResourceQuota answers "403 Forbidden: exceeded quota", a request over
// quota is refused, not postponed, because waiting does not make it pass.
var ErrQuota = fmt.Errorf("%w: quota exceeded", ErrForbidden)

func quotaf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrQuota}, args...)...)
}

// Limits bound what one command may carry and what one structure may hold,
// well below the byte limit of a request body. Zero means no limit. Each
// field's key (max-parameters…) is the name errors give the limit, and the
// flag of `slapgo master serve` that sets it.
type Limits struct {
	// MaxParameters: entries of one parameter map (an instance's
	// parameters, connection parameters, a computer's attributes).
	MaxParameters int
	// MaxParameterKeyBytes, MaxParameterValueBytes: the size of one key
	// and of one value in those maps. SlapOS puts a whole parameter set
	// as JSON under the key "_": values need room.
	MaxParameterKeyBytes   int
	MaxParameterValueBytes int
	// MaxSLAEntries: conditions of one request's SLA.
	MaxSLAEntries int
	// MaxPartitions: partitions one capacity announcement may list.
	MaxPartitions int
	// MaxAddressesPerPartition: addresses of one announced partition.
	MaxAddressesPerPartition int
	// MaxTreeInstances: instances one instance tree may hold (its root
	// included); a request for one more is refused with ErrQuota.
	MaxTreeInstances int
	// MaxSharedPerHost: shared instances one host instance may hold; a
	// shared request finds another host or stays pending.
	MaxSharedPerHost int
}

// DefaultLimits are the production limits: generous for real SlapOS
// software (a few dozen parameters, 300 partitions on a large node,
// thousands of shared instances on a frontend) and far below what fills
// memory.
func DefaultLimits() Limits {
	return Limits{
		MaxParameters:            1000,
		MaxParameterKeyBytes:     256,
		MaxParameterValueBytes:   256 << 10,
		MaxSLAEntries:            64,
		MaxPartitions:            2048,
		MaxAddressesPerPartition: 64,
		MaxTreeInstances:         1000,
		MaxSharedPerHost:         10000,
	}
}

// Quotas bound what one person may hold over all its instance trees. Zero
// means no quota (the default: the operator sets them).
type Quotas struct {
	// MaxInstances: live instances (requested, not destroyed; shared ones
	// and those requested by the person's instances included).
	MaxInstances int
	// MaxParameterBytes: the sum of the bytes of the parameter keys and
	// values of those instances.
	MaxParameterBytes int64
}

// Usage is what a person holds, as Quotas counts it.
type Usage struct {
	Instances      int   `json:"instances"`
	ParameterBytes int64 `json:"parameter_bytes"`
}

// Usage returns what a person holds. It is derived from the instances
// (kept up to date by every change, rebuilt by Restore), never persisted.
func (s *State) Usage(person string) Usage {
	if u := s.usage[person]; u != nil {
		return *u
	}
	return Usage{}
}

// parameterBytes is what a parameter map weighs against the quota.
func parameterBytes(p map[string]string) int64 {
	var n int64
	for k, v := range p {
		n += int64(len(k) + len(v))
	}
	return n
}

// live reports whether an instance counts in its owner's usage.
func live(i *model.Instance) bool { return !i.Freed && i.RequestedState != model.StateDestroyed }

// charge adds (sign 1) or removes (sign -1) an instance from its owner's
// usage. Callers charge an instance when it becomes live and discharge it
// when it stops being live or before its parameters change.
func (s *State) charge(i *model.Instance, sign int) {
	u := s.usage[i.Owner]
	if u == nil {
		u = &Usage{}
		s.usage[i.Owner] = u
	}
	u.Instances += sign
	u.ParameterBytes += int64(sign) * parameterBytes(i.Parameters)
	if u.Instances == 0 && u.ParameterBytes == 0 {
		delete(s.usage, i.Owner)
	}
}

// checkParameterMap enforces the count and size limits on one map; what
// names it in errors ("parameters", "connection parameters", "attributes").
func (l Limits) checkParameterMap(what string, p map[string]string) error {
	if l.MaxParameters > 0 && len(p) > l.MaxParameters {
		return invalidf("%s: %d entries, more than the limit max-parameters=%d", what, len(p), l.MaxParameters)
	}
	tooBig := func(k string) bool {
		return l.MaxParameterKeyBytes > 0 && len(k) > l.MaxParameterKeyBytes ||
			l.MaxParameterValueBytes > 0 && len(p[k]) > l.MaxParameterValueBytes
	}
	found := false
	for k := range p {
		if found = tooBig(k); found {
			break
		}
	}
	if !found {
		return nil
	}
	// Name the first offending key in order, whatever the map's order.
	for _, k := range slices.Sorted(maps.Keys(p)) {
		if l.MaxParameterKeyBytes > 0 && len(k) > l.MaxParameterKeyBytes {
			return invalidf("%s: key %.40q… is %d bytes, more than the limit max-parameter-key-bytes=%d", what, k, len(k), l.MaxParameterKeyBytes)
		}
		if v := p[k]; l.MaxParameterValueBytes > 0 && len(v) > l.MaxParameterValueBytes {
			return invalidf("%s: value of %q is %d bytes, more than the limit max-parameter-value-bytes=%d", what, k, len(v), l.MaxParameterValueBytes)
		}
	}
	return nil
}

// checkSoftwareURL refuses a local (file://) software release URL unless
// the operator allows them: a node elsewhere cannot fetch it, and it
// would make every node read a path of the requester's choosing.
func (s *State) checkSoftwareURL(u string) error {
	if s.cfg.AllowLocalSoftwareURLs {
		return nil
	}
	local, known := s.softwareURLs[u]
	if !known {
		local = model.IsLocalSoftwareURL(u)
	}
	if !local {
		return nil
	}
	return invalidf("software release URL %q is local to one machine: this master accepts only http:// and https:// URLs any node can fetch (local URLs are for a master started with --allow-local-software-urls)", u)
}

// maxSoftwareURLs bounds State.softwareURLs.
const maxSoftwareURLs = 64

// validateSoftwareURL is model.ValidateSoftwareURL. It remembers the valid
// URLs it saw last, whether each is local, in State.softwareURLs: a grid
// requests a handful of software releases all day, and parsing a URL
// allocates.
func (s *State) validateSoftwareURL(u string) error {
	if _, known := s.softwareURLs[u]; known {
		return nil
	}
	if err := model.ValidateSoftwareURL(u); err != nil {
		return err
	}
	if len(s.softwareURLs) >= maxSoftwareURLs || s.softwareURLs == nil {
		s.softwareURLs = make(map[string]bool, maxSoftwareURLs)
	}
	s.softwareURLs[u] = model.IsLocalSoftwareURL(u)
	return nil
}

// admitRequest checks a valid request for the instance key names against
// the limits, the quotas and the software URL policy, before anything
// changes. It returns the instance key names already, found true when
// there is one, which the caller looks up no more.
func (s *State) admitRequest(c Request, key instKey) (existing *model.Instance, found bool, err error) {
	l := s.cfg.Limits
	owner := key.owner
	g, found := s.byKey[key]
	if found {
		existing = s.instances[g]
	}
	if l.MaxSLAEntries > 0 && len(c.SLA) > l.MaxSLAEntries {
		return nil, false, fieldErr(FieldSLA, invalidf("sla: %d conditions, more than the limit max-sla-entries=%d", len(c.SLA), l.MaxSLAEntries))
	}
	if err := l.checkParameterMap("parameters", c.Parameters); err != nil {
		return nil, false, fieldErr(FieldParameters, err)
	}
	// A local URL already held may be requested again (to stop or
	// destroy it): only a new one is refused.
	if c.State != model.StateDestroyed && (existing == nil || existing.SoftwareRelease != c.SoftwareRelease) {
		if err := s.checkSoftwareURL(c.SoftwareRelease); err != nil {
			return nil, false, fieldErr(FieldSoftwareRelease, err)
		}
	}
	if c.State == model.StateDestroyed {
		return existing, found, nil // creates nothing, frees what it names
	}
	// A new child joins its root's tree; a new root starts its own.
	if existing == nil && key.root != "" && l.MaxTreeInstances > 0 {
		if tree := s.trees[instKey{owner, key.root, ""}]; tree.len() >= l.MaxTreeInstances {
			return nil, false, quotaf("instance tree %q of person %s holds %d instances: the limit max-tree-instances=%d allows no more",
				key.root, owner, tree.len(), l.MaxTreeInstances)
		}
	}
	q := s.cfg.Quotas
	if q.MaxInstances <= 0 && q.MaxParameterBytes <= 0 {
		return existing, found, nil
	}
	u := s.Usage(owner)
	if existing == nil && q.MaxInstances > 0 && u.Instances+1 > q.MaxInstances {
		return nil, false, quotaf("instances of person %s: %d used of %d (quota max-instances): destroy one first or ask the operator to raise the quota",
			owner, u.Instances, q.MaxInstances)
	}
	if q.MaxParameterBytes > 0 {
		before := int64(0)
		if existing != nil {
			before = parameterBytes(existing.Parameters)
		}
		after := parameterBytes(c.Parameters)
		// Shrinking is always allowed, even over a quota lowered since.
		if after > before && u.ParameterBytes-before+after > q.MaxParameterBytes {
			return nil, false, quotaf("parameter bytes of person %s: %d used, %d more asked, quota max-parameter-bytes=%d",
				owner, u.ParameterBytes, after-before, q.MaxParameterBytes)
		}
	}
	return existing, found, nil
}

// admitTransfer applies the buyer's quotas to an instance that changes
// hands with the given parameters.
func (s *State) admitTransfer(buyer string, params map[string]string) error {
	q := s.cfg.Quotas
	u := s.Usage(buyer)
	if q.MaxInstances > 0 && u.Instances+1 > q.MaxInstances {
		return quotaf("instances of person %s: %d used of %d (quota max-instances): the transfer would exceed it",
			buyer, u.Instances, q.MaxInstances)
	}
	if b := parameterBytes(params); q.MaxParameterBytes > 0 && u.ParameterBytes+b > q.MaxParameterBytes {
		return quotaf("parameter bytes of person %s: %d used, %d more with the transfer, quota max-parameter-bytes=%d",
			buyer, u.ParameterBytes, b, q.MaxParameterBytes)
	}
	return nil
}

// checkCapacity enforces the limits on one capacity announcement.
func (l Limits) checkCapacity(c SetCapacity) error {
	if l.MaxPartitions > 0 && len(c.Partitions) > l.MaxPartitions {
		return invalidf("partitions: %d announced, more than the limit max-partitions=%d", len(c.Partitions), l.MaxPartitions)
	}
	if l.MaxAddressesPerPartition > 0 {
		for _, p := range c.Partitions {
			if len(p.Addresses) > l.MaxAddressesPerPartition {
				return invalidf("partition %s: %d addresses, more than the limit max-addresses-per-partition=%d",
					p.ID, len(p.Addresses), l.MaxAddressesPerPartition)
			}
		}
	}
	return nil
}

// hostFull reports whether a host instance holds as many shared instances
// as the limit allows.
func (s *State) hostFull(host string) bool {
	m := s.cfg.Limits.MaxSharedPerHost
	return m > 0 && len(s.hosted[host]) >= m
}

// hostFullReason is the pending reason of a shared instance whose host is
// full.
func (s *State) hostFullReason(host string) string {
	return fmt.Sprintf("instance_guid=%s: hosts %d shared instances, the limit max-shared-per-host=%d",
		host, len(s.hosted[host]), s.cfg.Limits.MaxSharedPerHost)
}
