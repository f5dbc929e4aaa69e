package master

import "github.com/slapgo/slapgo/core/model"

// slaRaws shares the rendered form of SLAs (model.SLA.Raw) between the
// views and instance infos that show them: most instances carry one of a
// few SLAs, and rendering one allocates a map each time.
//
// NB: a map it returns is shown by many views and infos at once: nobody
// writes to it (views and infos are read only).
type slaRaws struct {
	m map[slaKey]map[string]string
}

// slaKey is an SLA without its attributes: one with attributes is
// rendered each time.
type slaKey struct {
	computerGUID, instanceGUID, region, network, arch string
	minRAM, minCPU, minDisk, retentionDelay           int64
	maxPrice                                          float64
	uniqueByNetwork                                   bool
}

// maxSLARaws bounds slaRaws: SLAs naming a computer or an instance can be
// as many as those. Past it, the renders kept are dropped.
const maxSLARaws = 1024

// raw is sla.Raw(), shared with every other SLA rendering the same.
func (c *slaRaws) raw(sla model.SLA) map[string]string {
	if len(sla.Attributes) > 0 {
		return sla.Raw()
	}
	k := slaKey{computerGUID: sla.ComputerGUID, instanceGUID: sla.InstanceGUID, region: sla.Region,
		network: sla.Network, arch: sla.Arch, minRAM: sla.MinRAM, minCPU: sla.MinCPU, minDisk: sla.MinDisk,
		retentionDelay: sla.RetentionDelay, maxPrice: sla.MaxPrice, uniqueByNetwork: sla.UniqueByNetwork}
	if m, ok := c.m[k]; ok {
		return m
	}
	if c.m == nil || len(c.m) >= maxSLARaws {
		c.m = make(map[slaKey]map[string]string)
	}
	m := sla.Raw()
	c.m[k] = m
	return m
}
